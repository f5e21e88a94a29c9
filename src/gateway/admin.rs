//! The admin interface (`--admin-addr`), an HTTP/1 listener (hyper) in the
//! gateway's runtime that `migrate execute` and operators use to switch
//! clients:
//!
//! - `GET /routes`: the routes (JSON: `version`, `groups`, `topics`);
//! - `PUT /routes/groups/{group}` and `PUT /routes/topics/{topic}` with
//!   `{"cluster": "source" | "target" | "held"}`;
//! - `POST /routes` with `{"groups": {NAME: ROUTE}, "topics": {...}}`:
//!   several routes in one change;
//! - `POST /connections/close?group={group}`: closes the connections of
//!   the group's clients (`{"closed": N}`);
//! - `GET /clients`: the clients the gateway knows, their groups, topics,
//!   route and open connections;
//! - `GET /groups/{group}`: how many clients the gateway knows in the group,
//!   how many of them are parked (waiting to rejoin while held) and how many
//!   have a commit in flight;
//! - `GET /held`: how many clients are held and how many of them have a
//!   write (a Produce sent before the hold) in flight.
//!
//! A change is saved to `--routes-file` before it is answered, or, with
//! `--routes-topic`, written to the topic and answered once this gateway
//! read it back (the answer's `version` is then the same on every replica
//! that applied it); held requests are then released to the new route.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};

use super::GatewayError;
use super::routes::{Change, Route};
use super::server::{Shared, lock, resolve_listen};

/// Binds `addr` and serves the admin interface in the current runtime.
pub(super) fn serve(addr: &str, shared: Shared) -> Result<SocketAddr, GatewayError> {
    let addr = resolve_listen(addr)?;
    let bind_error = |source| GatewayError::Bind {
        addr,
        what: "the admin interface".into(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
    tokio::spawn(accept(listener, shared));
    Ok(local)
}

async fn accept(listener: tokio::net::TcpListener, shared: Shared) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("admin listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Deserialize)]
struct SetRoute {
    cluster: Route,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SetRoutes {
    #[serde(default)]
    groups: BTreeMap<String, Route>,
    #[serde(default)]
    topics: BTreeMap<String, Route>,
}

#[derive(Serialize)]
struct ClientView {
    ip: String,
    client_id: String,
    groups: Vec<String>,
    topics: Vec<String>,
    route: Route,
    connections: usize,
}

async fn respond(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let body = match Limited::new(req.into_body(), 1024 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let Some(switch) = shared.0.switch.as_ref() else {
        return error(StatusCode::NOT_FOUND, "this gateway has no target");
    };
    let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let changes: Vec<Change> = match (method.as_str(), &segments[..]) {
        ("GET", ["routes"]) => return json(StatusCode::OK, &switch.routes()),
        ("GET", ["clients"]) => return json(StatusCode::OK, &clients(shared)),
        ("GET", ["groups", group]) => {
            let (clients, parked, writing) = switch.group_status(group);
            return json(
                StatusCode::OK,
                &serde_json::json!({ "group": group, "clients": clients, "parked": parked, "writing": writing }),
            );
        }
        ("GET", ["held"]) => {
            let (clients, writing) = switch.held_status();
            return json(
                StatusCode::OK,
                &serde_json::json!({ "clients": clients, "writing": writing }),
            );
        }
        ("POST", ["connections", "close"]) => {
            let Some(group) = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("group="))
                .map(percent_decode)
            else {
                return error(StatusCode::BAD_REQUEST, "say which group: ?group=NAME");
            };
            let closed = shared.close_group(&group);
            tracing::info!("closed {closed} connection(s) of group `{group}`'s clients");
            return json(StatusCode::OK, &serde_json::json!({ "closed": closed }));
        }
        ("PUT", ["routes", kind @ ("groups" | "topics"), name]) if !name.is_empty() => {
            let set: SetRoute = match serde_json::from_slice(&body) {
                Ok(s) => s,
                Err(e) => return error(StatusCode::BAD_REQUEST, &bad_body(&e)),
            };
            let name = (*name).to_owned();
            vec![if *kind == "groups" {
                Change::Group(name, set.cluster)
            } else {
                Change::Topic(name, set.cluster)
            }]
        }
        ("POST", ["routes"]) => {
            let set: SetRoutes = match serde_json::from_slice(&body) {
                Ok(s) => s,
                Err(e) => return error(StatusCode::BAD_REQUEST, &bad_body(&e)),
            };
            let groups = set.groups.into_iter().map(|(g, r)| Change::Group(g, r));
            groups
                .chain(set.topics.into_iter().map(|(t, r)| Change::Topic(t, r)))
                .collect()
        }
        _ => return error(StatusCode::NOT_FOUND, USAGE),
    };
    match switch.update(&changes).await {
        Ok(routes) => {
            tracing::info!(version = routes.version, "routes are now {routes:?}");
            json(StatusCode::OK, &routes)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

const USAGE: &str = "GET /routes, PUT /routes/groups/{group} or /routes/topics/{topic} with {\"cluster\": \"source\"|\"target\"|\"held\"}, POST /routes, POST /connections/close?group={group}, GET /clients, GET /groups/{group}, GET /held";

fn bad_body(e: &serde_json::Error) -> String {
    format!("{e}: send {{\"cluster\": \"source\"|\"target\"|\"held\"}}")
}

fn clients(shared: &Shared) -> Vec<ClientView> {
    let Some(switch) = shared.0.switch.as_ref() else {
        return Vec::new();
    };
    let routes = switch.routes();
    let clients = lock(&switch.clients).clone();
    let connections = lock(&shared.0.connections);
    let mut out: Vec<ClientView> = clients
        .into_iter()
        .map(|(key, c)| ClientView {
            ip: key.ip.to_string(),
            connections: connections
                .values()
                .filter(|x| x.client.as_ref() == Some(&key))
                .count(),
            client_id: key.client_id,
            route: routes.of_client(&c),
            groups: c.groups.into_iter().collect(),
            topics: c.topics.into_iter().collect(),
        })
        .collect();
    out.sort_by(|a, b| (&a.client_id, &a.ip).cmp(&(&b.client_id, &b.ip)));
    out
}

/// Decodes `%XX` escapes (group and topic names in paths).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_paths_are_percent_decoded() {
        assert_eq!(percent_decode("orders%2Eeu%20x"), "orders.eu x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%zz"), "a%zz");
    }
}
