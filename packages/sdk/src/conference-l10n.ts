/**
 * The conference pages' texts in Russian, English, Hebrew (right to left) and Chinese, for
 * the two verticals: `medicine` (a doctor's appointment with a patient) and `general` (a
 * meeting of a specialist with a client). `UX.initConfConfigL10n(config, vertical)` puts the
 * texts of `config.lang` into `config.l10n` and the writing direction into `config.dir`.
 */

export type ConfLang = 'ru' | 'en' | 'he' | 'zh';
export type ConfVertical = 'medicine' | 'general';
export const CONF_LANGS: readonly ConfLang[] = ['ru', 'en', 'he', 'zh'];
export const CONF_VERTICALS: readonly ConfVertical[] = ['medicine', 'general'];

/** Texts that differ by vertical. */
interface VerticalTexts {
  title: string;
  pendingClient: string;
  pendingSpecialist: string;
  openButton: string;
  joinClient: string;
  joinSpecialist: string;
  cancelled: string;
  finish: string;
  started: string;
  finishButton: string;
  roleSpecialist: string;
  roleClient: string;
  left: string;
  /** The specialist's button in a waiting room. */
  admitNext: string;
}

/** Texts shared by both verticals. `{name}` marks a value filled in by `confText`. */
interface CommonTexts {
  langLabel: string;
  loading: string;
  error401: string;
  error404: string;
  errorOther: string;
  joinButton: string;
  remaining: string;
  scheduledAt: string;
  duration: string;
  leave: string;
  you: string;
  waitingOthers: string;
  queue: string;
  infoChanged: string;
  reload: string;
  connecting: string;
  mediaError: string;
  rejoin: string;
  participants: string;
  unknownStatus: string;
  queueEmpty: string;
}

export type ConfTexts = VerticalTexts & CommonTexts;
export type ConfTextKey = keyof ConfTexts;

const common: Record<ConfLang, CommonTexts> = {
  ru: {
    langLabel: 'Язык',
    loading: 'Загрузка…',
    error401: 'Ссылка недействительна или устарела.',
    error404: 'Конференция не найдена.',
    errorOther: 'Не удалось открыть конференцию: {reason}',
    joinButton: 'Присоединиться',
    remaining: 'Осталось {time}',
    scheduledAt: 'Начало: {time}',
    duration: 'Длительность: {minutes} мин',
    leave: 'Покинуть',
    you: 'Вы',
    waitingOthers: 'Ожидаем остальных участников…',
    queue: 'Вы {position}-й в очереди',
    infoChanged: 'Данные конференции были изменены. Пожалуйста, обновите страницу.',
    reload: 'Обновить',
    connecting: 'Подключение к видео…',
    mediaError: 'Нет доступа к камере или микрофону: {reason}',
    rejoin: 'Вернуться',
    participants: 'Участники',
    unknownStatus: 'Некорректный статус конференции.',
    queueEmpty: 'В очереди никого нет.',
  },
  en: {
    langLabel: 'Language',
    loading: 'Loading…',
    error401: 'This link is not valid or has expired.',
    error404: 'Conference not found.',
    errorOther: 'Could not open the conference: {reason}',
    joinButton: 'Join',
    remaining: '{time} left',
    scheduledAt: 'Starts at {time}',
    duration: 'Duration: {minutes} min',
    leave: 'Leave',
    you: 'You',
    waitingOthers: 'Waiting for the others to join…',
    queue: 'You are number {position} in the queue',
    infoChanged: 'The conference details have changed. Please reload the page.',
    reload: 'Reload',
    connecting: 'Connecting to video…',
    mediaError: 'No access to the camera or microphone: {reason}',
    rejoin: 'Rejoin',
    participants: 'Participants',
    unknownStatus: 'The conference is in an unexpected state.',
    queueEmpty: 'Nobody is waiting.',
  },
  he: {
    langLabel: 'שפה',
    loading: 'טוען…',
    error401: 'הקישור אינו תקף או שפג תוקפו.',
    error404: 'הפגישה לא נמצאה.',
    errorOther: 'לא ניתן לפתוח את הפגישה: {reason}',
    joinButton: 'הצטרפות',
    remaining: 'נותרו {time}',
    scheduledAt: 'מועד התחלה: {time}',
    duration: 'משך: {minutes} דק׳',
    leave: 'יציאה',
    you: 'את/ה',
    waitingOthers: 'ממתינים לשאר המשתתפים…',
    queue: 'את/ה במקום {position} בתור',
    infoChanged: 'פרטי הפגישה השתנו. נא לרענן את הדף.',
    reload: 'רענון',
    connecting: 'מתחבר לווידאו…',
    mediaError: 'אין גישה למצלמה או למיקרופון: {reason}',
    rejoin: 'חזרה',
    participants: 'משתתפים',
    unknownStatus: 'מצב הפגישה אינו תקין.',
    queueEmpty: 'אין אף אחד בתור.',
  },
  zh: {
    langLabel: '语言',
    loading: '加载中…',
    error401: '链接无效或已过期。',
    error404: '未找到该会议。',
    errorOther: '无法打开会议：{reason}',
    joinButton: '加入',
    remaining: '剩余 {time}',
    scheduledAt: '开始时间：{time}',
    duration: '时长：{minutes} 分钟',
    leave: '离开',
    you: '我',
    waitingOthers: '正在等待其他参与者加入…',
    queue: '您在队列中排第 {position} 位',
    infoChanged: '会议信息已更改，请刷新页面。',
    reload: '刷新',
    connecting: '正在连接视频…',
    mediaError: '无法使用摄像头或麦克风：{reason}',
    rejoin: '重新加入',
    participants: '参与者',
    unknownStatus: '会议状态异常。',
    queueEmpty: '没有人在排队。',
  },
};

const vertical: Record<ConfLang, Record<ConfVertical, VerticalTexts>> = {
  ru: {
    medicine: {
      title: 'Видеоприём',
      pendingClient: 'Приём ещё не начат. Врач откроет его в назначенное время.',
      pendingSpecialist: 'Приём ещё не открыт.',
      openButton: 'Открыть приём',
      joinClient: 'Врач открыл приём. Присоединяйтесь.',
      joinSpecialist: 'Приём открыт. Ожидаем пациента.',
      cancelled: 'Приём отменён.',
      finish: 'Приём завершён.',
      started: 'Идёт приём',
      finishButton: 'Завершить приём',
      roleSpecialist: 'Врач',
      roleClient: 'Пациент',
      left: 'Вы покинули приём.',
      admitNext: 'Пригласить следующего пациента',
    },
    general: {
      title: 'Видеовстреча',
      pendingClient: 'Встреча ещё не начата. Специалист откроет её в назначенное время.',
      pendingSpecialist: 'Встреча ещё не открыта.',
      openButton: 'Открыть встречу',
      joinClient: 'Специалист открыл встречу. Присоединяйтесь.',
      joinSpecialist: 'Встреча открыта. Ожидаем клиента.',
      cancelled: 'Встреча отменена.',
      finish: 'Встреча завершена.',
      started: 'Идёт встреча',
      finishButton: 'Завершить встречу',
      roleSpecialist: 'Специалист',
      roleClient: 'Клиент',
      left: 'Вы покинули встречу.',
      admitNext: 'Пригласить следующего клиента',
    },
  },
  en: {
    medicine: {
      title: 'Video consultation',
      pendingClient: 'The consultation has not started yet. Your doctor will open it at the scheduled time.',
      pendingSpecialist: 'The consultation is not open yet.',
      openButton: 'Open the consultation',
      joinClient: 'Your doctor has opened the consultation. Please join.',
      joinSpecialist: 'The consultation is open. Waiting for the patient.',
      cancelled: 'The consultation was cancelled.',
      finish: 'The consultation has ended.',
      started: 'Consultation in progress',
      finishButton: 'End the consultation',
      roleSpecialist: 'Doctor',
      roleClient: 'Patient',
      left: 'You left the consultation.',
      admitNext: 'Admit the next patient',
    },
    general: {
      title: 'Video meeting',
      pendingClient: 'The meeting has not started yet. The specialist will open it at the scheduled time.',
      pendingSpecialist: 'The meeting is not open yet.',
      openButton: 'Open the meeting',
      joinClient: 'The specialist has opened the meeting. Please join.',
      joinSpecialist: 'The meeting is open. Waiting for the client.',
      cancelled: 'The meeting was cancelled.',
      finish: 'The meeting has ended.',
      started: 'Meeting in progress',
      finishButton: 'End the meeting',
      roleSpecialist: 'Specialist',
      roleClient: 'Client',
      left: 'You left the meeting.',
      admitNext: 'Admit the next client',
    },
  },
  he: {
    medicine: {
      title: 'ייעוץ וידאו',
      pendingClient: 'התור עדיין לא התחיל. הרופא יפתח אותו בזמן שנקבע.',
      pendingSpecialist: 'התור עדיין לא נפתח.',
      openButton: 'פתיחת התור',
      joinClient: 'הרופא פתח את התור. אפשר להצטרף.',
      joinSpecialist: 'התור פתוח. ממתינים למטופל.',
      cancelled: 'התור בוטל.',
      finish: 'התור הסתיים.',
      started: 'התור מתקיים',
      finishButton: 'סיום התור',
      roleSpecialist: 'רופא',
      roleClient: 'מטופל',
      left: 'יצאת מהתור.',
      admitNext: 'הכנסת המטופל הבא',
    },
    general: {
      title: 'פגישת וידאו',
      pendingClient: 'הפגישה עדיין לא התחילה. המומחה יפתח אותה בזמן שנקבע.',
      pendingSpecialist: 'הפגישה עדיין לא נפתחה.',
      openButton: 'פתיחת הפגישה',
      joinClient: 'המומחה פתח את הפגישה. אפשר להצטרף.',
      joinSpecialist: 'הפגישה פתוחה. ממתינים ללקוח.',
      cancelled: 'הפגישה בוטלה.',
      finish: 'הפגישה הסתיימה.',
      started: 'הפגישה מתקיימת',
      finishButton: 'סיום הפגישה',
      roleSpecialist: 'מומחה',
      roleClient: 'לקוח',
      left: 'יצאת מהפגישה.',
      admitNext: 'הכנסת הלקוח הבא',
    },
  },
  zh: {
    medicine: {
      title: '视频问诊',
      pendingClient: '问诊尚未开始，医生将在预约时间开启。',
      pendingSpecialist: '问诊尚未开启。',
      openButton: '开启问诊',
      joinClient: '医生已开启问诊，请加入。',
      joinSpecialist: '问诊已开启，正在等待患者。',
      cancelled: '问诊已取消。',
      finish: '问诊已结束。',
      started: '问诊进行中',
      finishButton: '结束问诊',
      roleSpecialist: '医生',
      roleClient: '患者',
      left: '您已离开问诊。',
      admitNext: '接诊下一位患者',
    },
    general: {
      title: '视频会议',
      pendingClient: '会议尚未开始，专家将在预约时间开启。',
      pendingSpecialist: '会议尚未开启。',
      openButton: '开启会议',
      joinClient: '专家已开启会议，请加入。',
      joinSpecialist: '会议已开启，正在等待客户。',
      cancelled: '会议已取消。',
      finish: '会议已结束。',
      started: '会议进行中',
      finishButton: '结束会议',
      roleSpecialist: '专家',
      roleClient: '客户',
      left: '您已离开会议。',
      admitNext: '接待下一位客户',
    },
  },
};

/** `ru-RU`, `he_IL`, `zh-cn`, `EN`… → one of the four languages (English when unknown). */
export function confLang(lang: string | undefined | null): ConfLang {
  const base = String(lang ?? '').toLowerCase().split(/[-_]/)[0]!;
  if (base === 'iw') return 'he';
  return (CONF_LANGS as readonly string[]).includes(base) ? (base as ConfLang) : 'en';
}

/** `medicine` or `general` (`medicine` when unknown). */
export function confVertical(v: string | undefined | null): ConfVertical {
  return v === 'general' ? 'general' : 'medicine';
}

/** Right to left for Hebrew. */
export function confDir(lang: ConfLang): 'rtl' | 'ltr' {
  return lang === 'he' ? 'rtl' : 'ltr';
}

/** The texts of one language and vertical. */
export function confTexts(lang: string, v: string = 'medicine'): ConfTexts {
  const l = confLang(lang);
  return { ...common[l], ...vertical[l][confVertical(v)] };
}

/** `texts[key]` with `{name}` replaced by `vars.name`. */
export function formatConfText(texts: ConfTexts, key: ConfTextKey, vars: Record<string, string | number> = {}): string {
  return texts[key].replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}
