/** The widget's words, in English and Simplified Chinese (the web client's two languages). */
export type WidgetLang = 'en' | 'zh-CN';

const en = {
  title: 'Chat with us',
  close: 'Close the chat',
  log: 'Conversation',
  label: 'Your message',
  placeholder: 'Type your question…',
  send: 'Send',
  you: 'You',
  staff: 'Front desk',
  intro: 'Hello! Write your question and someone from the front desk will answer here.',
  position: 'You are number {n} in the queue.',
  next: 'You are next in the queue.',
  claimed: '{name} is answering you.',
  joined: '{name} joined the chat.',
  ended: 'The chat has ended. Write again to start a new one.',
  reconnecting: 'Connection lost. Reconnecting…',
  failed: 'Could not send: {reason}',
  unavailable: 'The chat is not available right now: {reason}',
};

export const strings: Record<WidgetLang, typeof en> = {
  en,
  'zh-CN': {
    title: '在线咨询',
    close: '关闭对话',
    log: '对话',
    label: '您的消息',
    placeholder: '请输入您的问题……',
    send: '发送',
    you: '我',
    staff: '前台',
    intro: '您好!请输入您的问题,前台工作人员会在这里回复您。',
    position: '您在队列中排第 {n} 位。',
    next: '下一位就是您。',
    claimed: '{name} 正在为您服务。',
    joined: '{name} 加入了对话。',
    ended: '对话已结束。再次发送消息即可开始新的对话。',
    reconnecting: '连接已断开,正在重新连接……',
    failed: '发送失败:{reason}',
    unavailable: '在线咨询暂时不可用:{reason}',
  },
};
