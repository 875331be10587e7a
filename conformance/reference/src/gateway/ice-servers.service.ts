import { Injectable } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { config } from '../config.js';
import type { IceServer } from './interfaces/index.js';

/** `iceServers` for `room:joined`: STUN URLs, and TURN with REST API credentials. */
@Injectable()
export class IceServersService {
  forUser(userId: string): IceServer[] {
    const servers: IceServer[] = [];
    if (config.stunUrls.length > 0) {
      servers.push({ urls: [...config.stunUrls] });
    }
    if (config.turnUrls.length > 0 && config.turnSecret) {
      // coturn `use-auth-secret`: username "<expiry>:<user>", credential base64(HMAC-SHA1).
      const expiry = Math.floor(Date.now() / 1000) + config.turnTtlSeconds;
      const username = `${expiry}:${userId}`;
      const credential = createHmac('sha1', config.turnSecret).update(username).digest('base64');
      servers.push({ urls: [...config.turnUrls], username, credential });
    }
    return servers;
  }
}
