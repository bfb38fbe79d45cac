import { Module } from "@nestjs/common";
import { APP_CONFIG, type AppConfig } from "../../config/config.ts";
import { SecretBox } from "../../security/secret-box.ts";
import { AuthModule } from "../auth.module.ts";
import { OAuthClients } from "./oauth-clients.ts";
import { OAuthSignIn } from "./oauth-sign-in.ts";
import { OAUTH_STATE_KEY, OAuthController } from "./oauth.controller.ts";

/**
 * Sign-in through GitHub, Google and an operator's OpenID Connect issuer (openid-client). It
 * uses AuthModule's account use cases and queries; the pending sign-in cookie is signed with a
 * key derived from the secrets key, so every instance sharing it can finish a sign-in.
 */
@Module({
  imports: [AuthModule],
  controllers: [OAuthController],
  providers: [
    OAuthClients,
    OAuthSignIn,
    {
      provide: OAUTH_STATE_KEY,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => SecretBox.open(config).derivedKey("oauth-state"),
    },
  ],
})
export class OAuthModule {}
