#!/usr/bin/env node
/**
 * The floor of a proxy written in Node: a bare TCP forwarder that parses nothing.
 *
 *   node bench/lib/forwarder.mjs LISTEN_PORT UPSTREAM_HOST:PORT
 *
 * Listens on 127.0.0.1:LISTEN_PORT and pipes every connection both ways to the upstream, with
 * Nagle off on both sides as `ctxbench proxy` has it. The overhead section runs it as a process
 * of its own next to `ctxbench proxy`, so the difference between the two is what parsing and
 * recording cost, and the forwarder's own figure is what the extra hop costs. Exits on
 * SIGINT/SIGTERM.
 */
import net from 'node:net';

const [listenArg, upstreamArg] = process.argv.slice(2);
const listenPort = Number(listenArg);
const upstream = /^(.+):(\d+)$/.exec(upstreamArg ?? '');
if (!Number.isInteger(listenPort) || listenPort <= 0 || upstream === null) {
  process.stderr.write('usage: node bench/lib/forwarder.mjs LISTEN_PORT UPSTREAM_HOST:PORT\n');
  process.exit(2);
}
const host = upstream[1].replace(/^\[(.*)\]$/, '$1');
const port = Number(upstream[2]);

const server = net.createServer((client) => {
  const target = net.connect({ host, port });
  client.setNoDelay(true);
  target.setNoDelay(true);
  client.pipe(target);
  target.pipe(client);
  // Either side failing or closing ends the pair: nothing is left half-open.
  const close = () => {
    client.destroy();
    target.destroy();
  };
  for (const socket of [client, target]) {
    socket.once('error', close);
    socket.once('close', close);
  }
});
server.listen(listenPort, '127.0.0.1');

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(0));
