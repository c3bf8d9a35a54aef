/**
 * The one configuration schema. Every setting has a type, a default and a description;
 * env var names and `docs/config.md` are generated from it. Loaded once at start,
 * validated, and frozen.
 */
import Type, { type Static, type TSchema } from 'typebox';

const Int = (def: number, description: string, min = 0, max = 2 ** 31) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });
const Str = (def: string, description: string) => Type.String({ default: def, description });
const Bool = (def: boolean, description: string) => Type.Boolean({ default: def, description });

export const ConfigSchema = Type.Object(
  {
    http: Type.Object(
      {
        host: Str('127.0.0.1', 'Address to listen on. Use 0.0.0.0 to accept remote connections.'),
        port: Int(3000, 'TCP port (0 picks a free one).', 0, 65535),
        backlog: Int(
          4096,
          'Listen backlog: connections the kernel queues while the server is busy (e.g. a reconnect storm) instead of dropping them. Linux caps it at net.core.somaxconn.',
          1,
          65535,
        ),
        bodyLimitBytes: Int(256 * 1024, 'Largest accepted HTTP body, in bytes.', 1024),
        trustProxy: Bool(false, 'Trust X-Forwarded-* headers from a reverse proxy.'),
        headersTimeoutMs: Int(10_000, 'A connection must send a request\'s complete headers within this long of its start (idle or half-sent connections are cut: slowloris). Also bounds a WebSocket upgrade request.', 100, 600_000),
        requestTimeoutMs: Int(30_000, 'A request must arrive whole (headers and body) within this long; at least headersTimeoutMs.', 100, 3_600_000),
        keepAliveTimeoutMs: Int(72_000, 'An idle keep-alive connection is closed after this long with no new request. Keep it above the idle timeout of a reverse proxy in front (60 s for most), or the proxy may reuse a closing connection.', 100, 3_600_000),
        maxConnections: Int(0, 'Most TCP connections open at once, WebSockets included; beyond it new ones are dropped at accept. 0: no limit but the process\'s file descriptors (ulimit -n). Per-IP limits belong in the reverse proxy.', 0, 10_000_000),
      },
      { default: {}, additionalProperties: false },
    ),
    ws: Type.Object(
      {
        maxFrameBytes: Int(64 * 1024, 'Largest accepted WebSocket frame, in bytes; larger closes the connection with 1009.', 1024),
        heartbeatMs: Int(25_000, 'Clients should send something this often; silent connections are dropped after twice this.', 1000),
        maxBufferedBytes: Int(4 * 1024 * 1024, 'A connection whose unsent output exceeds this is closed as a slow consumer (4001).', 64 * 1024),
        syncBufferFrames: Int(10_000, 'Live frames held for a connection while its catch-up runs; beyond this, or beyond ws.maxBufferedBytes bytes of them, it is closed (4003).', 100),
        syncHoldMs: Int(
          10_000,
          'A client that connects with ?sync=1 gets no live frames until its first sync, for at most this long; then they flow, and a later sync does not send them again.',
          100,
          600_000,
        ),
        syncPageSize: Int(500, 'Most messages (and notifications) read from storage per page during catch-up; a page of messages is also kept to about a quarter of ws.maxBufferedBytes, by the size of the messages read so far.', 10, 10_000),
        drainTimeoutMs: Int(
          30_000,
          'A connection with unsent output of which nothing goes out for this long (a client that stopped reading, live or during catch-up) is closed as a slow consumer (4001) and its memory released. Checked every heartbeatMs/2.',
          100,
          600_000,
        ),
        maxConnectionsPerUser: Int(20, 'Most WebSocket connections one user may have open on a node; one more is refused with connection.too_many and close 4005 (transient: reconnect with backoff).', 1, 100_000),
        maxPresenceWatches: Int(1000, 'Most users one connection may watch the presence of; a subscribe beyond it is refused with presence.too_many_watches.', 1, 1_000_000),
        notificationReorderMs: Int(
          250,
          'How long a notification that reaches this node before one of its tenant committed earlier waits for it, in ms; then the missing ones are read from storage and sent first (an event the bus lost is found so). A tenant\'s notifications reach its connections in commit order.',
          0,
          10_000,
        ),
        broadcastChunk: Int(1000, 'Most connections written per turn of the event loop when a tenant-wide notification is fanned out (a turn also ends after 5 ms; other traffic runs between turns).', 1, 1_000_000),
      },
      { default: {}, additionalProperties: false },
    ),
    storage: Type.Object(
      {
        driver: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], {
          default: 'sqlite',
          description:
            'Storage backend. sqlite: an embedded database file, for one node. postgres: PostgreSQL at storage.postgresUrl, shared by every node of a cluster (migrations run at start, once, whichever node comes first).',
        }),
        postgresUrl: Str('', 'PostgreSQL connection URL (postgres://user:password@host:port/database), required with storage.driver postgres.'),
        postgresPoolSize: Int(10, 'Most PostgreSQL connections this node opens (pg pool size).', 1, 1000),
        sqlitePath: Str('./data/careline.db', 'SQLite database file (":memory:" for a throw-away database).'),
        sqliteSynchronous: Type.Union([Type.Literal('NORMAL'), Type.Literal('FULL')], {
          default: 'FULL',
          description: 'SQLite synchronous mode in WAL. FULL: every group commit is fsynced (durable across power loss). NORMAL: durable across process crashes, not power loss.',
        }),
        sqliteWriter: Type.Union([Type.Literal('worker'), Type.Literal('inline')], {
          default: 'worker',
          description:
            'Where SQLite writes run. worker: a writer thread owns the write connection and runs every write in call order, committing (and fsyncing) while the event loop goes on; reads stay on the main thread. inline: every write is a synchronous transaction on the event loop. A ":memory:" database always runs inline (another thread cannot open it).',
        }),
        sqliteWalAutocheckpoint: Int(
          16_000,
          'WAL pages (4 KiB) from which the WAL starts over. With the writer thread, a checkpointer thread copies the WAL into the database file every 200 ms while writes come, and once the WAL holds this many pages the writer copies the rest so that it starts over; inline, a commit checkpoints them itself at this many pages. Larger: a longer WAL to replay after a crash.',
          100,
          1_000_000,
        ),
        sqliteCacheMb: Int(
          32,
          'Page cache of the SQLite connection that writes (the writer thread\'s; inline, the one connection), in MiB (2^20 bytes): resident once filled. It keeps the upper levels of the B-trees and the pages the appends touch (a leaf per active conversation, the right edges). Larger for a database of many millions of messages with many conversations active at once; the main thread\'s read connection keeps 16 MiB (in WAL it starts over whenever a write commits).',
          2,
          65_536,
        ),
        groupCommitMaxBatch: Int(1000, 'Most messages written in one transaction.', 1, 100_000),
      },
      { default: {}, additionalProperties: false },
    ),
    bus: Type.Object(
      {
        driver: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
          default: 'memory',
          description:
            'Event bus backend. memory: this process only (one node). redis: Redis pub/sub at bus.redisUrl, so events reach every node (at most once: clients recover what a node missed through catch-up).',
        }),
        redisUrl: Str('', 'Redis URL (redis://host:port[/db]), required with bus.driver or presence.driver redis; also shared by the rate-limit counters when set.'),
      },
      { default: {}, additionalProperties: false },
    ),
    presence: Type.Object(
      {
        driver: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
          default: 'memory',
          description:
            'Who-is-online backend. memory: this process only. redis: every node\'s connection counts in Redis (at bus.redisUrl), each refreshed by its node and expiring after presence.ttlSeconds, so the users of a node that died go offline by themselves.',
        }),
        ttlSeconds: Int(60, 'How long a node\'s presence entries (and its entry in the push-node registry) outlive its last refresh; a node refreshes every third of it.', 3, 3600),
      },
      { default: {}, additionalProperties: false },
    ),
    cluster: Type.Object(
      {
        nodeId: Str('', 'This node\'s id in the cluster, unique per process (events on the bus and presence entries carry it). Empty: the host name and process id.'),
        publicAddress: Str('', 'The address other nodes and the push-node registry (`pushers`) know this node by, e.g. http://10.0.0.5:3000. Empty: the address it listens on.'),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: Type.Object(
      {
        tokenSecret: Str('dev-only-token-secret-change-me-0123456789', 'HMAC secret signing user tokens (32+ chars). Must be set in prod.'),
        tokenTtlSeconds: Int(7 * 24 * 3600, 'Default lifetime of a user token.', 60),
        sessionCacheMs: Int(10_000, 'How long a user token\'s login session and user, once read, are taken without reading them again (per node). A logout, a disabled user or a role change reaches every node through the bus and takes effect at once; on a cluster (bus.driver redis) this bounds how long a copy lives if the bus lost such an event without noticing. On one node (bus.driver memory, which loses no event) any value but 0 keeps a copy until such an event drops it (50,000 copies at most). 0: read them at every request.', 0, 300_000),
        adminToken: Str('dev-admin-token', 'Operator token for /api/v2/admin (X-Admin-Token). Must be set in prod, to a strong value: 32+ characters, not a repeated pattern, about 3+ bits of entropy per character (e.g. `openssl rand -hex 32`).'),
        sessionPruneIntervalSeconds: Int(3600, 'How often expired and long-revoked login sessions are deleted (0: never).', 0, 7 * 24 * 3600),
        sessionKeepSeconds: Int(
          24 * 3600,
          'How long a login session is kept after it expired or was revoked, before it is pruned. Until then a revoked token answers auth.token_revoked; after, auth.invalid_token.',
          0,
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    messages: Type.Object(
      {
        maxContentBytes: Int(32 * 1024, 'Largest message content, as JSON bytes.', 256),
        recallWindowSeconds: Int(120, 'How long after sending a sender may recall a message.', 0),
        historyPageMax: Int(200, 'Most messages returned by one history page.', 1, 5000),
      },
      { default: {}, additionalProperties: false },
    ),
    cache: Type.Object(
      {
        memberTtlMs: Int(
          10_000,
          'How long a node keeps a conversation\'s participant set in memory before reading it again. Changes reach other nodes at once over the bus; this bounds how long a node that missed one (a lost bus event) still lets a removed participant send and receive: at most this long. Shorter: more reads (two indexed reads per active conversation per node per period).',
          100,
          3_600_000,
        ),
        settingsTtlMs: Int(
          30_000,
          'How long a node keeps a tenant\'s settings in memory before reading them again; likewise the bound on how long a node that missed a change applies the old connection policy.',
          100,
          3_600_000,
        ),
        recentMessagesMb: Int(
          16,
          'Memory a node gives to the newest messages of the conversations read lately (up to 256 each), so that a latest page, or a page after a cursor near the head, is answered without a storage read. Kept up to date by every commit on any node (over the bus); a conversation\'s copy is read again after cache.memberTtlMs, and dropped on a gap or a recall. 0: every history read goes to storage.',
          0,
          4096,
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    rateLimit: Type.Object(
      {
        enabled: Bool(true, 'Enforce the request limits below (429 request.rate_limited with a Retry-After header). Counters are in memory, per node: with several nodes they must move to Redis.'),
        windowSeconds: Int(60, 'The window every limit below counts in (fixed windows, per key).', 1, 24 * 3600),
        failedAuthPerIp: Int(
          30,
          'Failed authentications (wrong API key, operator token, metrics token, or a malformed or forged user token — over REST or the WebSocket upgrade) per client address per window; beyond it, every authenticated call from that address is refused until the window ends. Expired and revoked tokens do not count.',
          1,
        ),
        publicPerIp: Int(6000, 'Requests per client address per window to the paths that need no credentials (health, metrics, docs, the web client, the SDK bundle).', 1),
        apiKeyRequests: Int(1_200_000, 'Requests per API key per window (an integrator\'s backend; high, so bulk user creation and logins go through).', 1),
        userRequests: Int(6000, 'Requests per user per window with a user token (or with an API key on behalf of the user: counted per key).', 1),
        loginsPerUser: Int(30, 'Logins of one user per window (each opens a login session).', 1),
        trackedKeys: Int(50_000, 'Keys (addresses, API keys, users) each in-memory counter remembers; the least recently seen are forgotten beyond it.', 1000, 10_000_000),
      },
      { default: {}, additionalProperties: false },
    ),
    web: Type.Object(
      {
        frameAncestors: Type.String({
          default: '',
          pattern: "^[^;,']*$",
          description:
            "Origins allowed to embed the web client in a frame, space-separated (e.g. `https://portal.example.com https://*.clinic.example`); the page's CSP frame-ancestors is 'self' plus these.",
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    metrics: Type.Object(
      {
        token: Str('', 'When set, /metrics needs `Authorization: Bearer <token>` (auth.invalid_metrics_token otherwise). Required in prod (strong, as auth.adminToken).'),
      },
      { default: {}, additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'Log level.' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    service: Type.Object(
      {
        id: Str('careline-1', 'This node\'s id, reported by /monitor/api/ping.'),
        type: Str('careline-im', 'Service type reported by /monitor/api/ping.'),
      },
      { default: {}, additionalProperties: false },
    ),
    longpoll: Type.Object(
      {
        timeoutMs: Int(25_000, 'How long a long-poll request (GET /api/v2/poll) with nothing to answer is held before it answers with what it has; the POST of frames waits at most this long for their answers.', 100, 300_000),
        maxFrames: Int(100, 'Most frames in one POST /api/v2/poll/send; more is refused with longpoll.too_many_frames.', 1, 10_000),
        orderWaitMs: Int(500, 'A numbered POST (n=, from=: a client with several POSTs in flight) waits at most this long for the client\'s earlier POSTs to reach this node before its frames are handled anyway (they went to another node, or were lost).', 0, 60_000),
        maxResponseBytes: Int(1024 * 1024, 'A long-poll answer that catches up stops adding frames at about this size and answers; the next poll goes on from its cursor.', 16 * 1024, 64 * 1024 * 1024),
      },
      { default: {}, additionalProperties: false },
    ),
    mqtt: Type.Object(
      {
        enabled: Bool(false, 'Run the MQTT 3.1.1 listener (seed 003 clients): the user token is the password.'),
        host: Str('127.0.0.1', 'Address the MQTT listener binds. Use 0.0.0.0 to accept remote connections.'),
        port: Int(1883, 'TCP port of the MQTT listener (0 picks a free one).', 0, 65535),
      },
      { default: {}, additionalProperties: false },
    ),
    shutdownGraceMs: Int(10_000, 'On SIGTERM, how long to wait for work in flight before exiting.', 0),
    demo: Bool(false, 'Seed a demo tenant, doctor and patient at start (dev).'),
    files: Type.Object(
      {
        driver: Type.Union([Type.Literal('disk'), Type.Literal('s3')], {
          default: 'disk',
          description: 'Where the bytes of uploaded files go. disk: files.dir on this node (one node, or a shared file system). s3: an S3-compatible bucket (files.s3*), shared by every node.',
        }),
        dir: Str('', 'Directory of the disk driver; empty: a "files" directory beside the SQLite database (./data/files with the default path).'),
        tmpDir: Str('', 'Where uploads are spooled while they are checked; empty: the system temp dir.'),
        s3Endpoint: Str('', 'S3 endpoint URL (e.g. http://127.0.0.1:9000 for a local S3-compatible server); empty: AWS for files.s3Region.'),
        s3Region: Str('us-east-1', 'S3 region.'),
        s3Bucket: Str('careline', 'S3 bucket (it must exist).'),
        s3AccessKeyId: Str('', 'S3 access key id; empty: the AWS SDK\'s default credential chain.'),
        s3SecretAccessKey: Str('', 'S3 secret access key.'),
        s3Prefix: Str('', 'Prefix of every object key (e.g. "careline/").'),
        s3ForcePathStyle: Bool(true, 'Path-style S3 URLs (endpoint/bucket/key), which most S3-compatible servers need.'),
        maxImageBytes: Int(20 * 1024 * 1024, 'Largest image upload, in bytes.', 1),
        maxAudioBytes: Int(25 * 1024 * 1024, 'Largest audio upload (voice notes), in bytes.', 1),
        maxVideoBytes: Int(512 * 1024 * 1024, 'Largest video upload, in bytes.', 1),
        maxFileBytes: Int(50 * 1024 * 1024, 'Largest upload of any other accepted type (PDF, …), in bytes.', 1),
        signedUrlTtlSeconds: Int(300, 'How long a signed download link stays valid.', 1, 7 * 86_400),
        signingSecret: Str('', 'HMAC secret of signed download links; empty: derived from auth.tokenSecret. Every node needs the same one.'),
        orphanTtlSeconds: Int(86_400, 'An uploaded file never attached to a message is deleted after this long.', 60),
        cleanupIntervalSeconds: Int(600, 'How often orphaned uploads are looked for (0: never).', 0),
        scan: Type.Object(
          {
            enabled: Bool(false, 'Scan every upload with ClamAV\'s clamd (INSTREAM) before it is stored: infected → file.infected, scanner down → file.scan_failed; nothing is stored either way.'),
            socket: Str('/run/clamav/clamd.ctl', 'clamd\'s Unix socket (Debian\'s LocalSocket). Used unless files.scan.host is set.'),
            host: Str('', 'clamd\'s TCP host (TCPSocket/TCPAddr in clamd.conf); empty: the Unix socket.'),
            port: Int(3310, 'clamd\'s TCP port.', 1, 65_535),
            timeoutMs: Int(60_000, 'How long a scan may take (connect, send, verdict) before the upload is refused with file.scan_failed.', 100),
          },
          { default: {}, additionalProperties: false },
        ),
        retentionIntervalSeconds: Int(3600, 'How often retention runs (a job on one node of the cluster): messages and files older than the tenant\'s policy for their conversation type are deleted, unless under legal hold (0: never on this node).', 0),
      },
      { default: {}, additionalProperties: false },
    ),
    push: Type.Object(
      {
        websocketUrl: Str('', 'The WebSocket URL a device registration answers with (e.g. wss://im.example.org/ws). Empty: derived from the request (its Host, and X-Forwarded-Proto https → wss).'),
        title: Str('New message from your care team', 'The title of every push. Pushes carry ids, this title and the badge: never message text or names.'),
        workers: Int(4, 'Pushes this node sends at once (its share of the cluster\'s push jobs). 0: this node sends none (it still enqueues them).', 0, 1000),
        maxAttempts: Int(12, 'Attempts of one push before it is given up (dead job, kept for operators).', 1, 100),
        retryBaseMs: Int(1000, 'Delay before the first retry of a failed push; doubled per attempt, with jitter (half to all of it).', 1),
        retryMaxMs: Int(600_000, 'Longest delay between two attempts of one push.', 1),
        pollMs: Int(1000, 'How often a node looks for push jobs when it found none (a job enqueued on the node itself is looked for at once).', 10),
        apns: Type.Object(
          {
            url: Str('https://api.push.apple.com', 'APNs endpoint (HTTP/2). The sandbox: https://api.sandbox.push.apple.com.'),
            keyFile: Str('', 'Path of the .p8 signing key (token auth) from the Apple developer account. Empty: no APNs pushes.'),
            keyId: Str('', 'The key\'s id (10 characters, the JWT\'s kid).'),
            teamId: Str('', 'The developer team id (10 characters, the JWT\'s iss).'),
            topic: Str('', 'The app\'s bundle id (apns-topic).'),
            caFile: Str('', 'PEM file of the certificate authorities to trust for the endpoint, in place of the system\'s (a private gateway). Empty: the system\'s.'),
          },
          { default: {}, additionalProperties: false },
        ),
        fcm: Type.Object(
          {
            serviceAccountFile: Str('', 'Path of the Firebase service account key (JSON, from the Firebase console). Empty: no FCM pushes.'),
            projectId: Str('', 'The Firebase project to send in. Empty: the service account\'s project_id.'),
            url: Str('https://fcm.googleapis.com', 'FCM HTTP v1 endpoint.'),
            tokenUrl: Str('', 'OAuth2 token endpoint the service account\'s JWT is exchanged at. Empty: the key file\'s token_uri (https://oauth2.googleapis.com/token).'),
            caFile: Str('', 'PEM file of the certificate authorities to trust for both endpoints, in place of the system\'s (a private gateway). Empty: the system\'s.'),
          },
          { default: {}, additionalProperties: false },
        ),
        webpush: Type.Object(
          {
            publicKey: Str('', 'VAPID public key (base64url, the uncompressed P-256 point), as `npx web-push generate-vapid-keys` prints it; the web client subscribes with it (GET /api/v2/push/webpush). Empty: no Web Push.'),
            privateKey: Str('', 'VAPID private key (base64url, 32 bytes) of that pair. Keep it secret; every node needs the same one.'),
            subject: Str('', 'Contact for the push services, a mailto: or https: URL (the VAPID JWT\'s sub).'),
            caFile: Str('', 'PEM file of the certificate authorities to trust for push services, in place of the system\'s (a private push service). Empty: the system\'s.'),
          },
          { default: {}, additionalProperties: false },
        ),
        body: Str('Open the app to read it.', 'The line under the title where a vendor needs one (Huawei, Xiaomi, WeChat templates) and previews are off. Generic: never message text or names.'),
        huawei: Type.Object(
          {
            appId: Str('', 'Huawei AppGallery Connect app id (the OAuth2 client_id, and the path of messages:send). Empty: no Huawei pushes.'),
            appSecret: Str('', 'The app secret (the OAuth2 client_secret). Keep it secret.'),
            url: Str('https://push-api.cloud.huawei.com', 'Push Kit server API endpoint.'),
            tokenUrl: Str('https://oauth-login.cloud.huawei.com/oauth2/v3/token', 'OAuth2 token endpoint (client credentials).'),
            badgeClass: Str('', 'The app\'s launcher activity class (e.g. com.example.careline.MainActivity), for the icon badge. Empty: no badge.'),
            caFile: Str('', 'PEM file of the certificate authorities to trust for both endpoints, in place of the system\'s (a private gateway). Empty: the system\'s.'),
          },
          { default: {}, additionalProperties: false },
        ),
        xiaomi: Type.Object(
          {
            appSecret: Str('', 'MiPush AppSecret (sent as Authorization: key=…). Empty: no Xiaomi pushes.'),
            packageName: Str('', 'The app\'s package name (restricted_package_name).'),
            url: Str('https://api.xmpush.xiaomi.com', 'MiPush server API endpoint; outside mainland China https://api.xmpush.global.xiaomi.com.'),
            channelId: Str('', 'The notification channel id the app created (extra.channel_id, Android 8+). Empty: none.'),
            caFile: Str('', 'PEM file of the certificate authorities to trust for the endpoint, in place of the system\'s (a private gateway). Empty: the system\'s.'),
          },
          { default: {}, additionalProperties: false },
        ),
        wechat: Type.Object(
          {
            appId: Str('', 'The WeChat Official Account\'s AppID (for template messages to patients without a live connection; each tenant enables them and sets its template through PUT /api/v2/management/push/settings). Empty: no WeChat.'),
            appSecret: Str('', 'The Official Account\'s AppSecret. Keep it secret; allow this server\'s IP addresses in the account\'s IP whitelist.'),
            url: Str('https://api.weixin.qq.com', 'WeChat API endpoint.'),
            timeZone: Str('Asia/Shanghai', 'The time zone of the {time} placeholder in template data.'),
            caFile: Str('', 'PEM file of the certificate authorities to trust for the endpoint, in place of the system\'s (a private gateway). Empty: the system\'s.'),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    webhooks: Type.Object(
      {
        workers: Int(4, 'Webhook deliveries this node sends at once (its share of the cluster\'s webhook jobs). 0: this node sends none (it still enqueues them).', 0, 1000),
        maxAttempts: Int(10, 'Attempts of one delivery before it is given up (dead job, kept; it can be replayed).', 1, 100),
        retryBaseMs: Int(5000, 'Delay before the first retry of a failed delivery; doubled per attempt, with jitter (half to all of it).', 1),
        retryMaxMs: Int(3_600_000, 'Longest delay between two attempts of one delivery.', 1),
        timeoutMs: Int(10_000, 'How long a receiver has to answer one delivery (status line and body) before the attempt counts as failed.', 100, 120_000),
        pollMs: Int(1000, 'How often a node looks for webhook jobs when it found none (a job enqueued on the node itself is looked for at once).', 10),
        disableAfterFailures: Int(50, 'Failed attempts in a row (across the subscription\'s deliveries, none succeeding) after which the subscription is disabled.', 1, 100_000),
        cacheMs: Int(2000, 'How long a node keeps a tenant\'s list of subscriptions before reading it again (a change made on another node is heard at most this late).', 0, 600_000),
        maxPerTenant: Int(50, 'Most webhook subscriptions per tenant.', 1, 10_000),
        allowedTargets: Str('', 'Hosts a webhook URL may name although they resolve to a loopback, private or link-local address (comma-separated host names, IP addresses or CIDR ranges, e.g. "hooks.internal,10.1.2.0/24"). Empty: none; such URLs are refused (webhook.url_forbidden).'),
      },
      { default: {}, additionalProperties: false },
    ),
    apps: Type.Object(
      {
        tokenTtlSeconds: Int(3600, 'Lifetime of an access token issued to a third-party app (POST /api/v2/oauth/token).', 60, 86_400),
      },
      { default: {}, additionalProperties: false },
    ),
    calls: Type.Object(
      {
        maxParticipants: Int(4, 'Most participants of one call, the caller included: a conversation with more members cannot call (call.too_many_participants).', 2, 64),
        ringTimeoutMs: Int(45_000, 'How long a call rings before the callees who did not answer stop ringing (timeout); a call nobody answered ends then.', 1000, 600_000),
        heartbeatMs: Int(10_000, 'How often a participant of a call sends a heartbeat (told to clients in every call frame).', 200, 300_000),
        heartbeatTimeoutMs: Int(30_000, 'A joined participant with no heartbeat (nor any call action) for this long has left; a call left with fewer than two ends (lost). A call whose node died ends this way.', 500, 3_600_000),
        timerWorkers: Int(2, 'Call timers (ring timeouts, heartbeat checks) this node runs at once, from the shared job queue. 0: none here (other nodes run them).', 0, 100),
        pollMs: Int(1000, 'How often a node looks for due call timers when it found none.', 10, 60_000),
        stun: Str('', 'STUN server URLs handed to call participants, comma-separated (stun:stun.example.org:3478). Empty: none (TURN servers answer STUN too).'),
        turn: Type.Object(
          {
            urls: Str('', 'TURN server URLs handed to call participants, comma-separated (turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349). Empty: no TURN.'),
            secret: Str('', 'The TURN server\'s shared secret (coturn: use-auth-secret, static-auth-secret): each participant gets a username <expiry>:<user id> and the base64 HMAC-SHA1 of it under this secret (the TURN REST API scheme). Keep it secret.'),
            ttl: Int(86_400, 'Seconds a TURN credential handed out with a call stays valid.', 60, 7 * 86_400),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    conferences: Type.Object(
      {
        janusUrl: Str('', 'The Janus API over HTTP that the server calls to create and destroy conference rooms (e.g. http://127.0.0.1:8088/janus). Empty: conferences have no media (media stays null).'),
        janusApiSecret: Str('', 'Janus\' api_secret (janus.jcfg), sent on the server\'s own calls; also the videoroom plugin\'s admin_key, so only the server creates rooms.'),
        janusAdminUrl: Str('', 'Janus\' admin API over HTTP (e.g. http://127.0.0.1:7088/admin): the participants\' Janus tokens are added and removed there.'),
        janusAdminSecret: Str('', 'Janus\' admin_secret (janus.jcfg).'),
        janusPublicUrl: Str('', 'The Janus HTTP URL browsers are given (media.janus.http_url). Empty: janusUrl.'),
        janusPublicWsUrl: Str('', 'The Janus WebSocket URL browsers are given (media.janus.ws_url). Empty: none.'),
        iceServers: Str('', 'JSON array of RTCIceServer objects given to participants with the media (media.ice_servers). Empty: none.'),
        linkBaseUrl: Str('', 'The origin of the participants\' links (<origin>/conf/<access token>). Empty: the origin of the create request.'),
        openEarlySeconds: Int(900, 'How long before its start a specialist may open a conference (conference.too_early before that).', 0, 86_400),
        accessTtlAfterEndSeconds: Int(86_400, 'Access tokens stay valid this long after the conference\'s end time (the final screens still show).', 0, 30 * 86_400),
        tokenTtlSeconds: Int(43_200, 'Lifetime of a conference token (never past its access token\'s).', 60, 7 * 86_400),
        maxParticipants: Int(8, 'Most participants of one conference.', 2, 64),
        workers: Int(2, 'Conference jobs (end of time, room teardown, summaries) this node runs at once, from the shared job queue. 0: none here (other nodes run them).', 0, 100),
        pollMs: Int(1000, 'How often a node looks for due conference jobs when it found none.', 10, 60_000),
        leaseMs: Int(30_000, 'How long a node holds a conference job it claimed; a node that dies holding one leaves it to another node after this.', 1000, 600_000),
        janusTimeoutMs: Int(5000, 'How long one call to Janus may take.', 100, 60_000),
      },
      { default: {}, additionalProperties: false },
    ),
    desk: Type.Object(
      {
        slaSeconds: Int(120, 'How long a front-desk chat may wait in the queue unclaimed before it escalates to the team lead (docs/desk.md), unless the organisation set its own SLA.', 1, 86_400),
        visitorsPerIp: Int(30, 'Most visitors one client address may create with a widget key per desk.rateWindowSeconds (desk.rate_limited beyond).', 1, 1_000_000),
        visitorsPerFingerprint: Int(5, 'Most visitors one browser fingerprint (fp) may create with a widget key per desk.rateWindowSeconds.', 1, 1_000_000),
        rateWindowSeconds: Int(60, 'The window of the widget key\'s rate limits, in seconds.', 1, 86_400),
        slaWorkers: Int(1, 'Front-desk SLA checks this node runs at once, from the shared job queue. 0: none here (other nodes run them).', 0, 100),
        pollMs: Int(500, 'How often a node looks for due SLA checks when it found none.', 10, 60_000),
      },
      { default: {}, additionalProperties: false },
    ),
    outbox: Type.Object(
      {
        workers: Int(4, 'Outbox jobs (written in the transaction of each message append and notification) this node runs at once, handing each committed fact to push, webhooks and escalation. 0: none here (other nodes run them).', 0, 1000),
        pollMs: Int(500, 'How often a node looks for outbox jobs when it found none (a commit heard on the bus is looked for at once).', 10, 60_000),
        keepDoneMs: Int(3_600_000, 'Finished jobs (of every kind: outbox, push, webhooks, timers) are kept this long, then deleted.', 1000),
      },
      { default: {}, additionalProperties: false },
    ),
    sms: Type.Object(
      {
        url: Str('', 'The SMS gateway (the Twilio Messaging API shape, docs/push.md "SMS"): https://api.twilio.com, or your gateway\'s base URL. Empty: no SMS channel.'),
        accountSid: Str('', 'The gateway account (Basic auth user, and the /Accounts/<sid>/ path).'),
        authToken: Str('', 'The gateway auth token (Basic auth password).'),
        from: Str('', 'The sender: an E.164 number or an alphanumeric sender id.'),
        caFile: Str('', 'Only behind a private gateway: the CA certificates (PEM) to trust.'),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

export const Profiles = ['dev', 'test', 'prod'] as const;
export type Profile = (typeof Profiles)[number];

/** Settings that must not keep their default in prod. */
export const SecretPaths = ['auth.tokenSecret', 'auth.adminToken', 'metrics.token'] as const;

export interface Leaf {
  path: string;
  env: string;
  schema: TSchema & { default?: unknown; description?: string };
}

/** Every leaf setting with its dotted path and env var name (`CARELINE_HTTP_PORT` for `http.port`). */
export function leaves(schema: TSchema = ConfigSchema, prefix = ''): Leaf[] {
  const out: Leaf[] = [];
  const props = (schema as { properties?: Record<string, TSchema> }).properties;
  if (props && (schema as { type?: string }).type === 'object') {
    for (const [k, v] of Object.entries(props)) out.push(...leaves(v, prefix ? `${prefix}.${k}` : k));
    return out;
  }
  const env = 'CARELINE_' + prefix.split('.').map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
  out.push({ path: prefix, env, schema: schema as Leaf['schema'] });
  return out;
}
