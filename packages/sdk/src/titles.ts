/**
 * Conversation titles for the viewer. The server stores one `name` per conversation (seed
 * 000's `session_name`: the integrator's, or by default the participants' names joined with
 * "、" and cut to 10 characters), the same for every participant; a patient would see her
 * own name in it. Apps title a conversation for the user who looks at it with these.
 */
import { ConversationTypes } from '@careline/protocol/constants';

/**
 * Whether `name` is the server's default conversation name (seed 000's rule: the
 * participants' names joined with "、", cut to 10 characters and "…"), not one the
 * integrator gave. Order-independent: each part must be a participant's name, the cut last
 * part the start of one.
 */
export function isDefaultConversationName(name: string, participantNames: readonly string[]): boolean {
  if (name === '' || participantNames.length === 0) return false;
  const cut = name.endsWith('…');
  const parts = (cut ? name.slice(0, -1) : name).split('、');
  const left = [...participantNames];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    const at = last && cut ? left.findIndex((n) => n.startsWith(part)) : left.indexOf(part);
    if (at < 0) return false;
    left.splice(at, 1);
  }
  return true;
}

/**
 * A conversation's title as the viewer sees it: with one other participant, that person's
 * name (in a one-to-one conversation even if it has a name, which usually names both); else
 * the name the integrator gave; else the other participants' names, "A, B +2". The stored
 * `name` is seed 000's field and is the same for everyone, so the title is computed here.
 */
export function conversationTitle(
  conv: { id: string; type: number; name: string } | undefined,
  participants: readonly { user_id: string; name: string }[] | undefined,
  me: string | undefined,
  id = conv?.id ?? '',
): string {
  if (!participants) return conv?.name || id;
  const others = participants.filter((p) => p.user_id !== me);
  const named = (p: { user_id: string; name: string }) => p.name || p.user_id;
  const given = !!conv?.name && !isDefaultConversationName(conv.name, participants.map(named));
  if (others.length === 1 && (conv?.type === ConversationTypes.P2P || !given)) return named(others[0]!);
  if (given) return conv!.name;
  if (others.length === 0) return conv?.name || id;
  const names = others.map(named);
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 2).join(', ')} +${names.length - 2}`;
}
