/**
 * The S3-compatible server of the tests: s3rver (npm, a dev dependency) on loopback, serving
 * a directory. Run by `startS3()` (`s3.ts`) as its own process:
 *   node s3-main.ts <dir> <bucket>   → prints "listening <port>" once it accepts connections
 */
import S3rver from 's3rver';

const [dir, bucket] = process.argv.slice(2);
if (!dir || !bucket) throw new Error('usage: s3-main.ts <dir> <bucket>');
const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
const addr = await server.run();
process.stdout.write(`listening ${(addr as { port: number }).port}\n`);
const stop = () => void server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
