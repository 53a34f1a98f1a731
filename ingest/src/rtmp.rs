//! The RTMP server: tokio accepts, `rml_rtmp` speaks the protocol.
//!
//! `rtmp://host/live/<stream key>`, and the same inside TLS on the RTMPS listener
//! (`rtmps://`; the connection code is generic over the byte stream, and the TLS
//! handshake counts against the handshake deadline). One task per connection, so a peer that makes
//! the protocol code fail (or panic) takes only itself down. Audio and video
//! messages are rebuilt as FLV tags (their bodies are exactly FLV tag bodies) and
//! handed to the endpoint's stream. Limits: a connection cap, a handshake
//! deadline (handshake through publish), an idle timeout, a bounded queue per
//! stream, and a cap on one message's size.

use bytes::Bytes;
use media::flv::{self, TagKind};
use niem_core::live::Publication;
use niem_core::App;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

/// The RTMP application publishers must use.
const APP_NAME: &str = "live";

/// Largest audio or video message taken. A 4K keyframe is well below this; more
/// is a broken or hostile peer.
const MAX_MESSAGE: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("peer closed the connection")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("handshake failed: {0:?}")]
    Handshake(rml_rtmp::handshake::HandshakeError),
    #[error("RTMP protocol error: {0:?}")]
    Session(rml_rtmp::sessions::ServerSessionError),
    #[error("no handshake and publish within {0} s")]
    HandshakeTimeout(u64),
    #[error("nothing received for {0} s")]
    Idle(u64),
    #[error("refused: {0}")]
    Refused(String),
    #[error("a {0}-byte media message exceeds the limit")]
    TooLarge(usize),
}

/// Accepts connections until the service stops: RTMP, or RTMPS with `tls`.
pub async fn serve(app: Arc<App>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let live = app.live.clone();
    let protocol = if tls.is_some() { "rtmps" } else { "rtmp" };
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, protocol, "RTMP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = live.stopping() => return,
        };
        let Ok(permit) = live.connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, protocol, "RTMP connection refused: the connection cap is reached");
            continue;
        };
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = socket.set_nodelay(true);
            let deadline = Instant::now() + Duration::from_secs(app.config.live.handshake_timeout_secs);
            let result = match tls {
                None => connection(&app, socket, peer, protocol, deadline).await,
                Some(tls) => match tokio::time::timeout_at(deadline, tls.accept(socket)).await {
                    Ok(Ok(socket)) => connection(&app, socket, peer, protocol, deadline).await,
                    Ok(Err(e)) => Err(ConnError::Tls(e)),
                    Err(_) => Err(ConnError::HandshakeTimeout(app.config.live.handshake_timeout_secs)),
                },
            };
            match result {
                Ok(()) | Err(ConnError::Closed) => tracing::debug!(%peer, protocol, "RTMP connection closed"),
                Err(e) => tracing::warn!(%peer, protocol, error = %e, "RTMP connection ended"),
            }
        });
    }
}

struct Conn<S> {
    socket: S,
    buf: Vec<u8>,
    idle: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn read(&mut self) -> Result<usize, ConnError> {
        let n = match tokio::time::timeout(self.idle, self.socket.read(&mut self.buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnError::Idle(self.idle.as_secs())),
        };
        if n == 0 {
            return Err(ConnError::Closed);
        }
        Ok(n)
    }

    /// Sends packets in order (RTMP chunk headers are compressed against the
    /// previous one) and returns the events.
    async fn answer(&mut self, results: Vec<ServerSessionResult>) -> Result<Vec<ServerSessionEvent>, ConnError> {
        let mut events = Vec::new();
        let mut wrote = false;
        for r in results {
            match r {
                ServerSessionResult::OutboundResponse(packet) => {
                    self.socket.write_all(&packet.bytes).await?;
                    wrote = true;
                }
                ServerSessionResult::RaisedEvent(e) => events.push(e),
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        if wrote {
            self.socket.flush().await?;
        }
        Ok(events)
    }

    /// Writes and flushes: TLS may hold written bytes back until a flush, and the
    /// peer waits for them before it sends more.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.socket.write_all(bytes).await?;
        self.socket.flush().await?;
        Ok(())
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    app: &Arc<App>,
    socket: S,
    peer: SocketAddr,
    protocol: &'static str,
    deadline: Instant,
) -> Result<(), ConnError> {
    let cfg = &app.config.live;
    let mut conn = Conn { socket, buf: vec![0; 64 * 1024], idle: Duration::from_secs(cfg.idle_timeout_secs) };
    let (mut session, publication, pending) =
        match tokio::time::timeout_at(deadline, start(app, &mut conn, peer, protocol)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnError::HandshakeTimeout(cfg.handshake_timeout_secs)),
        };
    let mut out = Stream { publication, header_sent: false };
    tokio::select! {
        r = async {
            for e in pending {
                if out.event(e).await? {
                    return Ok(());
                }
            }
            loop {
                let n = conn.read().await?;
                let results = session.handle_input(&conn.buf[..n]).map_err(ConnError::Session)?;
                for e in conn.answer(results).await? {
                    if out.event(e).await? {
                        return Ok(());
                    }
                }
            }
        } => r,
        _ = app.live.stopping() => Ok(()),
    }
}

/// Handshake, connect and publish: up to the moment media flows.
async fn start<S: AsyncRead + AsyncWrite + Unpin>(
    app: &Arc<App>,
    conn: &mut Conn<S>,
    peer: SocketAddr,
    protocol: &'static str,
) -> Result<(ServerSession, Publication, Vec<ServerSessionEvent>), ConnError> {
    let mut handshake = Handshake::new(PeerType::Server);
    let remaining = loop {
        let n = conn.read().await?;
        match handshake.process_bytes(&conn.buf[..n]).map_err(ConnError::Handshake)? {
            HandshakeProcessResult::InProgress { response_bytes } => conn.send(&response_bytes).await?,
            HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                conn.send(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let mut config = ServerSessionConfig::new();
    config.send_on_bw_done_message_on_start = false;
    let (mut session, initial) = ServerSession::new(config).map_err(ConnError::Session)?;
    conn.answer(initial).await?;
    let mut results = session.handle_input(&remaining).map_err(ConnError::Session)?;
    loop {
        let mut events = conn.answer(results).await?.into_iter();
        while let Some(event) = events.next() {
            match event {
                ServerSessionEvent::ConnectionRequested { request_id, app_name } => {
                    let answer = if app_name == APP_NAME {
                        session.accept_request(request_id)
                    } else {
                        tracing::warn!(%peer, app = %app_name, "RTMP connect refused: unknown application");
                        session.reject_request(
                            request_id,
                            "NetConnection.Connect.Rejected",
                            "use rtmp://host/live/<stream key>",
                        )
                    };
                    conn.answer(answer.map_err(ConnError::Session)?).await?;
                    if app_name != APP_NAME {
                        return Err(ConnError::Refused(format!("application {app_name:?}")));
                    }
                }
                ServerSessionEvent::PublishStreamRequested { request_id, stream_key, .. } => {
                    match app.live.publish(app, stream_key, protocol).await {
                        Ok(publication) => {
                            conn.answer(session.accept_request(request_id).map_err(ConnError::Session)?).await?;
                            return Ok((session, publication, events.collect()));
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "RTMP publish refused");
                            let _ = conn
                                .answer(
                                    session
                                        .reject_request(request_id, "NetStream.Publish.BadName", &e.to_string())
                                        .map_err(ConnError::Session)?,
                                )
                                .await;
                            let _ = conn.socket.shutdown().await;
                            return Err(ConnError::Refused(e.to_string()));
                        }
                    }
                }
                _ => {}
            }
        }
        let n = conn.read().await?;
        results = session.handle_input(&conn.buf[..n]).map_err(ConnError::Session)?;
    }
}

/// The FLV byte stream of one connection.
struct Stream {
    publication: Publication,
    header_sent: bool,
}

impl Stream {
    /// Handles one session event; returns true when the publisher has finished.
    async fn event(&mut self, event: ServerSessionEvent) -> Result<bool, ConnError> {
        let (kind, data, ts) = match event {
            ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => (TagKind::Audio, data, timestamp.value),
            ServerSessionEvent::VideoDataReceived { data, timestamp, .. } => (TagKind::Video, data, timestamp.value),
            ServerSessionEvent::PublishStreamFinished { .. } => return Ok(true),
            _ => return Ok(false),
        };
        if data.len() > MAX_MESSAGE {
            return Err(ConnError::TooLarge(data.len()));
        }
        let mut tag = Vec::with_capacity(data.len() + 32);
        if !self.header_sent {
            tag.extend_from_slice(&flv::header());
            self.header_sent = true;
        }
        flv::write_tag(&mut tag, kind, ts, &data).map_err(|e| ConnError::TooLarge(e.0))?;
        self.publication
            .send(Bytes::from(tag))
            .await
            .map_err(|_| ConnError::Refused("the stream stopped taking media (see the log)".into()))?;
        Ok(false)
    }
}
