//! Detaches a request's head from the connection's read buffer.
//!
//! hyper parses the URI and header values as slices of its connection read
//! buffer (16 KiB once grown), and engineioxide keeps the request parts for
//! the whole life of a socket: one retained header value pins the whole
//! buffer, 16 KiB per idle socket. Copying the few hundred bytes of the head
//! lets hyper free the buffer as soon as the upgrade is done (measured with
//! heaptrack: 16 KiB less per idle socket, see BENCHMARKS.md).

use axum::extract::{OriginalUri, Request};
use http::{HeaderMap, HeaderValue, Uri};

/// `axum::middleware::map_request` step: the same request, with its URI and
/// header values in allocations of their own.
pub async fn detach(mut req: Request) -> Request {
    let headers = req.headers();
    let mut copy = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        // hyper has already validated the value; keep the original if not.
        let mut owned = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.set_sensitive(value.is_sensitive());
        // Header names are copied by hyper already (or are static).
        copy.append(name.clone(), owned);
    }
    *req.headers_mut() = copy;
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        // axum's router has already cloned the URI into `OriginalUri`, before
        // any layer ran; that clone shares the buffer too.
        if let Some(OriginalUri(original)) = req.extensions_mut().get_mut::<OriginalUri>() {
            *original = uri.clone();
        }
        *req.uri_mut() = uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn copies_uri_and_headers_without_changing_them() {
        // One shared buffer, as hyper's parser leaves it.
        let buf = Bytes::from_static(b"/socket.io/?EIO=4&transport=websocketBearer abc");
        let mut req = Request::builder()
            .uri(Uri::from_maybe_shared(buf.slice(..37)).unwrap())
            .body(axum::body::Body::empty())
            .unwrap();
        let original = OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
        let value = HeaderValue::from_maybe_shared(buf.slice(37..)).unwrap();
        req.headers_mut().append("authorization", value);
        req.headers_mut()
            .append("x-multi", HeaderValue::from_static("1"));
        req.headers_mut()
            .append("x-multi", HeaderValue::from_static("2"));
        req.headers_mut()
            .get_mut("authorization")
            .unwrap()
            .set_sensitive(true);

        let req = detach(req).await;

        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(req.uri().query(), Some("EIO=4&transport=websocket"));
        let auth = &req.headers()["authorization"];
        assert_eq!(auth, "Bearer abc");
        assert!(auth.is_sensitive());
        // The copy does not point into the original buffer.
        let range = buf.as_ptr_range();
        assert!(!range.contains(&auth.as_bytes().as_ptr()));
        assert!(!range.contains(&req.uri().path().as_ptr()));
        let OriginalUri(original) = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original, req.uri());
        assert!(!range.contains(&original.path().as_ptr()));
        let multi: Vec<_> = req.headers().get_all("x-multi").iter().collect();
        assert_eq!(multi, ["1", "2"]);
        assert_eq!(req.headers().len(), 3);
    }
}
