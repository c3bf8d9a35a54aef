/**
 * English and Simplified Chinese: one dictionary, no library. The language defaults to the
 * browser's (zh* → zh-CN, else en) and the user's choice is remembered.
 */
import { createContext, useContext } from 'react';
import { en as filesEn, zh as filesZh } from './files/i18n.ts';
import { en as searchEn, zh as searchZh } from './search/i18n.ts';
import { en as deskEn, zh as deskZh } from './desk/i18n.ts';
import { en as callsEn, zh as callsZh } from './calls/i18n.ts';

export type Lang = 'en' | 'zh-CN';
export const LANGS: { id: Lang; label: string }[] = [
  { id: 'en', label: 'English' },
  { id: 'zh-CN', label: '简体中文' },
];

const en = {
  'app.name': 'Careline',
  'app.tagline': 'Messages between patients and their care team',
  'app.skip': 'Skip to content',
  'lang.label': 'Language',

  'signin.title': 'Sign in',
  'signin.demo': 'Demo users',
  'signin.demoHint': 'This server runs the dev profile: pick a demo user. Open a second window and pick another one to chat with yourself.',
  'signin.as': 'Sign in as {name}',
  'signin.token': 'User token',
  'signin.tokenHint': 'Paste a token from POST /api/v2/users/login (your backend gets it with its API key). A host page can also open this client with #token=… in the address.',
  'signin.submit': 'Sign in with token',
  'signin.failed': 'Sign-in failed: {reason}',
  'signin.invalid': 'This token is not valid (expired or revoked?).',
  'signin.connecting': 'Signing in…',
  'signout': 'Sign out',
  'me.label': 'Signed in as {name}, {role}',

  'role.doctor': 'Doctor',
  'role.patient': 'Patient',
  'role.staff': 'Care team',
  'role.admin': 'Administrator',
  'role.system': 'System',

  'nav.main': 'Main',
  'nav.chats': 'Chats',
  'nav.consultations': 'Consultations',
  'nav.inbox': 'Inbox',
  'nav.unread': '{count} unread',
  'nav.waiting': '{count} waiting for reply',

  'conn.offline': 'You are offline. Messages you write are kept and sent when the connection is back.',
  'conn.reconnecting': 'Connection lost. Reconnecting…',
  'conn.connecting': 'Connecting…',
  'conn.closed': 'Disconnected: {reason}',
  'conn.replaced': 'You signed in somewhere else, so this window was disconnected.',
  'conn.retry': 'Reconnect',
  'conn.expired': 'Your session has ended. Please sign in again.',
  'conn.signIn': 'Sign in again',
  'conn.elsewhere': 'This account just signed in on another {device}. This window stays connected.',
  'platform.web': 'browser',
  'platform.mobile': 'phone',
  'platform.desktop': 'computer',

  'list.title': 'Chats',
  'list.filter': 'Show',
  'list.all': 'All',
  'list.patients': 'Patients',
  'list.colleagues': 'Colleagues',
  'list.empty': 'No conversations yet.',
  'list.loading': 'Loading conversations…',
  'list.pinned': 'Pinned',
  'list.pin': 'Pin to top',
  'list.unpin': 'Unpin',
  'list.noMessages': 'No messages yet',
  'list.unread': '{count} unread messages',

  'chat.back': 'Back to chats',
  'chat.choose': 'Choose a conversation to start.',
  'chat.loadingOlder': 'Loading earlier messages…',
  'chat.loadOlder': 'Load earlier messages',
  'chat.beginning': 'This is the beginning of the conversation.',
  'chat.log': 'Messages',
  'chat.online': 'Online',
  'chat.offline': 'Offline',
  'chat.lastSeen': 'Last seen {time}',
  'chat.typing': '{name} is typing…',
  'chat.you': 'You',
  'chat.newMessages': 'New messages',
  'chat.participants': '{count} participants',

  'composer.label': 'Message',
  'composer.placeholder': 'Write a message…',
  'composer.hint': 'Enter sends; Shift+Enter starts a new line.',
  'composer.send': 'Send',
  'composer.closed': 'This consultation has ended, so you cannot write here now. To ask something new, choose “Start a consultation” above.',

  'status.pending': 'Sending…',
  'status.sent': 'Sent',
  'status.read': 'Read',
  'status.failed': 'Not sent',
  'status.retry': 'Retry',
  'status.discard': 'Discard',

  'msg.actions': 'Message actions',
  'msg.recall': 'Recall',
  'msg.recallConfirm': 'Recall this message for everyone?',
  'msg.recallYes': 'Yes, recall it',
  'msg.recallFailed': 'Could not recall: {reason}',
  'msg.recalledBy': '{name} recalled a message',
  'msg.youRecalled': 'You recalled a message',
  'msg.image': 'Image',
  'msg.openImage': 'Open the full image',
  'msg.voice': 'Voice message',
  'msg.video': 'Video',
  'msg.file': 'File',
  'msg.download': 'Download',
  'msg.link': 'Link',
  'msg.open': 'Open',
  'msg.card': 'Card',
  'msg.contact': 'Contact card',
  'msg.forwarded': 'Forwarded',
  'msg.custom': 'Custom message: {kind}',
  'msg.unsupported': 'This kind of message ({type}) cannot be shown here.',
  'msg.system': 'Notice',
  'msg.topicStart': 'Consultation started: {name}',
  'msg.topicEnd': 'Consultation ended',
  'msg.topicEnter': 'The patient joined the consultation',

  'card.15': 'Renewal review',
  'card.16': 'Vital signs for renewal',
  'card.17': 'Renewal follow-up',
  'card.20': 'Rehabilitation plan',
  'card.21': 'Referral pending',
  'card.22': 'Acknowledged',
  'card.23': 'Revisit note',
  'card.24': 'Diagnosis',
  'card.25': 'Condition',
  'card.26': 'Expert advice',
  'card.2102': 'Home care order',
  'card.2103': 'Home care: doctor',
  'card.2104': 'Home care: items',
  'card.4': 'Article',
  'card.5': 'Link',
  'card.1001': 'Link',

  'topic.label': 'Consultation',
  'topic.title': 'Consultation: {name}',
  'topic.state.unreplied': 'Waiting for reply',
  'topic.state.in_progress': 'In progress',
  'topic.state.replied': 'Replied and ended',
  'topic.state.ended_unreplied': 'Ended without reply',
  'topic.end': 'End consultation',
  'topic.endConfirm': 'End this consultation? The patient will be told it has ended.',
  'topic.endYes': 'Yes, end it',
  'topic.cancel': 'Cancel',
  'topic.ended': 'The consultation has ended.',
  'topic.none': 'No open consultation.',
  'topic.start': 'Start a consultation',
  'topic.startLabel': 'What would you like to ask about?',
  'topic.startSubmit': 'Start',
  'topic.started': 'Started {time}',
  'topic.openChat': 'Open chat',
  'topic.failed': 'Could not update the consultation: {reason}',

  'cons.title': 'Consultations',
  'cons.byState': 'Consultations by state',
  'cons.empty': 'No consultations in this state.',
  'cons.mine': 'Your consultations',
  'cons.current': 'Current consultation',
  'cons.loading': 'Loading consultations…',
  'cons.patient': 'Patient: {name}',
  'cons.doctor': 'Doctor: {name}',

  'inbox.title': 'Inbox',
  'inbox.empty': 'No notifications.',
  'inbox.unavailable': 'Notifications are not available on this server yet.',
  'inbox.markAll': 'Mark all as read',
  'inbox.markRead': 'Mark as read',
  'inbox.unread': 'Unread',
  'inbox.loading': 'Loading notifications…',
  'inbox.more': 'Load more',
  'inbox.unreadCount': '{count} unread',
  'inbox.open': 'Open',
  'kind.S2C_SIGNED_PUSH': 'Care contract signed',
  'kind.S2C_UNSIGNED_PUSH': 'Care contract ended',
  'kind.S2C_RESERVATION_PUSH': 'Appointment',
  'kind.S2C_SYSTEM_PUSH': 'Announcement',
  'kind.S2C_DOCTORMSG_PUSH': 'From your doctor',
  'kind.S2C_FRIENDAPPLY_PUSH': 'Contact request',
  'kind.S2C_REMIND_PUSH': 'Reminder',
  'kind.S2C_SOCIAL_PUSH': 'Community',

  'time.yesterday': 'Yesterday',
  'error.generic': 'Something went wrong: {reason}',
  'dismiss': 'Dismiss',
  ...filesEn,
  ...searchEn,
  ...deskEn,
  ...callsEn,
};

export type MsgKey = keyof typeof en;

const zh: Record<MsgKey, string> = {
  'app.name': 'Careline',
  'app.tagline': '患者与医护团队之间的消息',
  'app.skip': '跳到主要内容',
  'lang.label': '语言',

  'signin.title': '登录',
  'signin.demo': '演示用户',
  'signin.demoHint': '本服务器运行开发配置：请选择一个演示用户。再打开一个窗口选择另一个用户，即可与自己对话。',
  'signin.as': '以 {name} 登录',
  'signin.token': '用户令牌',
  'signin.tokenHint': '粘贴 POST /api/v2/users/login 返回的令牌（由您的后端用 API 密钥获取）。宿主页面也可以用地址中的 #token=… 打开本客户端。',
  'signin.submit': '使用令牌登录',
  'signin.failed': '登录失败：{reason}',
  'signin.invalid': '该令牌无效（已过期或已撤销？）。',
  'signin.connecting': '正在登录…',
  'signout': '退出登录',
  'me.label': '当前登录：{name}，{role}',

  'role.doctor': '医生',
  'role.patient': '患者',
  'role.staff': '医护人员',
  'role.admin': '管理员',
  'role.system': '系统',

  'nav.main': '主导航',
  'nav.chats': '会话',
  'nav.consultations': '问诊',
  'nav.inbox': '通知',
  'nav.unread': '{count} 条未读',
  'nav.waiting': '{count} 个待回复',

  'conn.offline': '您已离线。输入的消息会保留，并在连接恢复后发送。',
  'conn.reconnecting': '连接已断开，正在重新连接…',
  'conn.connecting': '正在连接…',
  'conn.closed': '已断开：{reason}',
  'conn.replaced': '您已在其他地方登录，此窗口已断开。',
  'conn.retry': '重新连接',
  'conn.expired': '登录已失效，请重新登录。',
  'conn.signIn': '重新登录',
  'conn.elsewhere': '此账号刚刚在另一台{device}上登录，本窗口保持连接。',
  'platform.web': '浏览器',
  'platform.mobile': '手机',
  'platform.desktop': '电脑',

  'list.title': '会话',
  'list.filter': '显示',
  'list.all': '全部',
  'list.patients': '患者',
  'list.colleagues': '同事',
  'list.empty': '暂无会话。',
  'list.loading': '正在加载会话…',
  'list.pinned': '已置顶',
  'list.pin': '置顶',
  'list.unpin': '取消置顶',
  'list.noMessages': '暂无消息',
  'list.unread': '{count} 条未读消息',

  'chat.back': '返回会话列表',
  'chat.choose': '请选择一个会话。',
  'chat.loadingOlder': '正在加载更早的消息…',
  'chat.loadOlder': '加载更早的消息',
  'chat.beginning': '这是会话的开始。',
  'chat.log': '消息',
  'chat.online': '在线',
  'chat.offline': '离线',
  'chat.lastSeen': '最后在线 {time}',
  'chat.typing': '{name} 正在输入…',
  'chat.you': '我',
  'chat.newMessages': '新消息',
  'chat.participants': '{count} 位成员',

  'composer.label': '消息',
  'composer.placeholder': '输入消息…',
  'composer.hint': '按 Enter 发送，Shift+Enter 换行。',
  'composer.send': '发送',
  'composer.closed': '本次问诊已结束，暂时不能在此发送消息。如有新的问题，请点击上方的“发起问诊”。',

  'status.pending': '发送中…',
  'status.sent': '已送达',
  'status.read': '已读',
  'status.failed': '发送失败',
  'status.retry': '重试',
  'status.discard': '删除',

  'msg.actions': '消息操作',
  'msg.recall': '撤回',
  'msg.recallConfirm': '确定为所有人撤回这条消息吗？',
  'msg.recallYes': '确定撤回',
  'msg.recallFailed': '无法撤回：{reason}',
  'msg.recalledBy': '{name} 撤回了一条消息',
  'msg.youRecalled': '你撤回了一条消息',
  'msg.image': '图片',
  'msg.openImage': '查看原图',
  'msg.voice': '语音消息',
  'msg.video': '视频',
  'msg.file': '文件',
  'msg.download': '下载',
  'msg.link': '链接',
  'msg.open': '打开',
  'msg.card': '卡片',
  'msg.contact': '个人名片',
  'msg.forwarded': '转发',
  'msg.custom': '自定义消息：{kind}',
  'msg.unsupported': '此类消息（{type}）无法在这里显示。',
  'msg.system': '通知',
  'msg.topicStart': '问诊已开始：{name}',
  'msg.topicEnd': '问诊已结束',
  'msg.topicEnter': '患者已进入问诊',

  'card.15': '续方审核',
  'card.16': '续方体征',
  'card.17': '续方随访',
  'card.20': '康复计划',
  'card.21': '待转诊',
  'card.22': '已知晓',
  'card.23': '复诊记录',
  'card.24': '诊断',
  'card.25': '病情',
  'card.26': '专家建议',
  'card.2102': '居家护理订单',
  'card.2103': '居家护理：医生',
  'card.2104': '居家护理：项目',
  'card.4': '文章',
  'card.5': '链接',
  'card.1001': '链接',

  'topic.label': '问诊',
  'topic.title': '问诊：{name}',
  'topic.state.unreplied': '待回复',
  'topic.state.in_progress': '进行中',
  'topic.state.replied': '已回复并结束',
  'topic.state.ended_unreplied': '未回复即结束',
  'topic.end': '结束问诊',
  'topic.endConfirm': '确定结束本次问诊吗？患者会收到问诊结束的通知。',
  'topic.endYes': '确定结束',
  'topic.cancel': '取消',
  'topic.ended': '本次问诊已结束。',
  'topic.none': '当前没有进行中的问诊。',
  'topic.start': '发起问诊',
  'topic.startLabel': '您想咨询什么？',
  'topic.startSubmit': '发起',
  'topic.started': '开始于 {time}',
  'topic.openChat': '打开会话',
  'topic.failed': '无法更新问诊：{reason}',

  'cons.title': '问诊',
  'cons.byState': '按状态查看问诊',
  'cons.empty': '此状态下没有问诊。',
  'cons.mine': '我的问诊',
  'cons.current': '当前问诊',
  'cons.loading': '正在加载问诊…',
  'cons.patient': '患者：{name}',
  'cons.doctor': '医生：{name}',

  'inbox.title': '通知',
  'inbox.empty': '暂无通知。',
  'inbox.unavailable': '此服务器暂不支持通知。',
  'inbox.markAll': '全部标为已读',
  'inbox.markRead': '标为已读',
  'inbox.unread': '未读',
  'inbox.loading': '正在加载通知…',
  'inbox.more': '加载更多',
  'inbox.unreadCount': '{count} 条未读',
  'inbox.open': '打开',
  'kind.S2C_SIGNED_PUSH': '签约成功',
  'kind.S2C_UNSIGNED_PUSH': '解除签约',
  'kind.S2C_RESERVATION_PUSH': '预约',
  'kind.S2C_SYSTEM_PUSH': '平台公告',
  'kind.S2C_DOCTORMSG_PUSH': '医生消息',
  'kind.S2C_FRIENDAPPLY_PUSH': '好友请求',
  'kind.S2C_REMIND_PUSH': '值班提醒',
  'kind.S2C_SOCIAL_PUSH': '社区推送',

  'time.yesterday': '昨天',
  'error.generic': '出错了：{reason}',
  'dismiss': '关闭',
  ...filesZh,
  ...searchZh,
  ...deskZh,
  ...callsZh,
};

const dictionaries: Record<Lang, Record<MsgKey, string>> = { en, 'zh-CN': zh };

export type T = (key: MsgKey, params?: Record<string, string | number>) => string;

export function translator(lang: Lang): T {
  const dict = dictionaries[lang];
  return (key, params) => {
    const s = dict[key] ?? en[key] ?? key;
    if (!params) return s;
    return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
  };
}

/** Whether `key` has a translation (for codes such as card types). */
export function hasKey(key: string): key is MsgKey {
  return Object.hasOwn(en, key);
}

const STORAGE_KEY = 'careline:lang';

export function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    // Storage blocked: use the browser's language.
  }
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of langs) {
    const lower = (l ?? '').toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

export function saveLang(lang: Lang): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Not remembered; fine.
  }
}

export interface I18n {
  lang: Lang;
  t: T;
  setLang(lang: Lang): void;
}

export const I18nContext = createContext<I18n>({ lang: 'en', t: translator('en'), setLang: () => {} });

export function useI18n(): I18n {
  return useContext(I18nContext);
}
