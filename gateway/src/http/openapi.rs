//! `/openapi.json`, generated from the route annotations so it cannot drift.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{accounts, rooms};

/// `{ "error": { "code", "message" } }`
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(value_type = Object, example = json!({ "code": "WRONG_CREDENTIALS", "message": "wrong username or password" }))]
    error: serde_json::Value,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Signaling gateway REST API", description = "Accounts, rooms and ICE servers (PROTOCOL.md §6)."),
    paths(
        accounts::register, accounts::regenerate, accounts::new_password, accounts::token, accounts::me,
        rooms::create_room, rooms::get_room, rooms::ice_servers,
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
