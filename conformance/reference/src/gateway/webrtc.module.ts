import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { config } from '../config.js';
import { AppDatabaseService } from './app-database.service.js';
import { AuthService } from './auth.service.js';
import { IceServersService } from './ice-servers.service.js';
import { RoomsService } from './rooms.service.js';
import { WebrtcGateway } from './webrtc.gateway.js';

@Module({
  imports: [
    JwtModule.register({
      secret: config.jwtSecret,
      verifyOptions: { algorithms: ['HS256'] },
    }),
  ],
  providers: [WebrtcGateway, RoomsService, AuthService, IceServersService, AppDatabaseService],
})
export class WebrtcModule {}
