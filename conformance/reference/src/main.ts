import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server as HttpServer } from 'node:http';
import { config, isOriginAllowed } from './config.js';
import { WebrtcModule } from './gateway/webrtc.module.js';

/**
 * engine.io answers a refused WebSocket upgrade with 400; the contract wants
 * 403 for a foreign Origin, as on polling. This listener runs before engine.io's.
 */
function refuseForeignUpgrades(httpServer: HttpServer): void {
  httpServer.prependListener('upgrade', (req, socket) => {
    if (isOriginAllowed(req.headers.origin)) return;
    socket.on('error', () => {});
    socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  });
}

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(WebrtcModule, { logger: ['error', 'warn', 'log'] });
  app.useWebSocketAdapter(new IoAdapter(app));
  app.enableShutdownHooks();
  refuseForeignUpgrades(app.getHttpServer());
  await app.listen(config.port, config.host);
}

bootstrap().catch((err) => {
  console.error(err);
  process.exit(1);
});
