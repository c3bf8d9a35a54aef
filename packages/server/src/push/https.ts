/**
 * One HTTPS request with a body, answered as status and text: what the Huawei, Xiaomi and
 * WeChat adapters share (each keeps its own keep-alive agent, so connections are reused).
 */
import https from 'node:https';

export interface HttpReply {
  status: number;
  text: string;
}

export function httpsAgent(ca?: string | Buffer): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) });
}

export function httpsRequest(
  agent: https.Agent, method: 'GET' | 'POST', url: string, headers: Record<string, string>, body: string | null, timeoutMs = 10_000,
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body !== null) h['content-length'] = Buffer.byteLength(body);
    const req = https.request(url, { method, agent, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** JSON, or null when the text is not JSON. */
export function parseJson<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
