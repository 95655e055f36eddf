//! clap で共有する設定項目。
//!
//! 各サービスのバイナリは自分の `clap::Parser` に [`AuthArgs`] を `#[command(flatten)]`
//! で埋め込みます。JWT の秘密鍵は環境変数 `JWT_SECRET` (または `--jwt-secret`) で渡し、
//! 32 バイト未満なら起動時に分かりやすいエラーで止まります。既定値はありません。

use crate::platform::auth::{AuthError, JwtKeys};

/// JWT の設定。
#[derive(Clone, clap::Args)]
pub struct AuthArgs {
    /// JWT (HS256) の共有秘密鍵。32 バイト以上が必須で、既定値はありません。
    /// コマンドラインに秘密を残さないよう、環境変数 JWT_SECRET で渡すことを勧めます。
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
}

impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_secret", &"<伏せ字>")
            .finish()
    }
}

impl AuthArgs {
    /// 秘密鍵から JWT の鍵を作ります。
    ///
    /// # エラー
    /// 秘密鍵が 32 バイト未満なら [`AuthError::SecretTooShort`]。
    pub fn keys(&self) -> Result<JwtKeys, AuthError> {
        JwtKeys::from_secret(self.jwt_secret.as_bytes())
    }
}
