//! A store in an S3 bucket, through aws-sdk-s3.
//!
//! Create-only: every put sends `If-None-Match: *`, and a 412 means "exists".
//! SeaweedFS, MinIO and AWS honour it; Garage silently ignores it (and wants
//! `request_checksum = "when_required"` and its own `s3_region`), so on Garage an
//! overwrite is not refused and only the ledger catches it.

use super::{LockMode, ObjectMeta, ObjectStore, StoreError, Worm};
use crate::layout::ObjectKey;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// S3 settings. Unset fields fall back to the standard AWS chain
/// (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, profiles, instance roles).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket, without a trailing slash.
    pub prefix: String,
    /// e.g. `http://127.0.0.1:8333` for SeaweedFS; unset for AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Path-style addressing (`host/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Attempts per request, with exponential backoff between them.
    pub max_attempts: Option<u32>,
    /// `when_required` for servers that reject the SDK's default checksums (Garage).
    pub request_checksum: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "<set>"))
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    pub async fn connect(cfg: S3Config) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Config("S3 bucket is not set".into()));
        }
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &cfg.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &cfg.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        match (&cfg.access_key_id, &cfg.secret_access_key) {
            (Some(id), Some(secret)) => {
                loader = loader.credentials_provider(Credentials::new(id, secret, None, None, "niem-config"));
            }
            (None, None) => {}
            _ => return Err(StoreError::Config("set both access_key_id and secret_access_key, or neither".into())),
        }
        let sdk = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(cfg.path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(cfg.max_attempts.unwrap_or(5)));
        if sdk.region().is_none() {
            conf = conf.region(Region::new("us-east-1"));
        }
        match cfg.request_checksum.as_deref() {
            None | Some("when_supported") => {}
            Some("when_required") => conf = conf.request_checksum_calculation(RequestChecksumCalculation::WhenRequired),
            Some(other) => {
                return Err(StoreError::Config(format!(
                    "request_checksum {other:?}: use when_supported or when_required"
                )))
            }
        }
        Ok(Self { client: Client::from_conf(conf.build()), bucket: cfg.bucket, prefix: cfg.prefix })
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}

fn describe_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug + 'static>(
    e: &SdkError<E, R>,
) -> String {
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            format!("{} ({})", err.message().unwrap_or("no message"), err.code().unwrap_or("no code"))
        }
        // The SDK's top-level message ("dispatch failure") hides the cause.
        other => format!("{}", DisplayErrorContext(other)),
    }
}

impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn put_new<'a>(&'a self, key: &'a ObjectKey, body: Bytes) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let result = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(self.full_key(key.as_str()))
                .if_none_match("*")
                .body(ByteStream::from(body))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if status(&e) == Some(412) => Err(StoreError::AlreadyExists(key.clone())),
                Err(e) => Err(StoreError::io(key, describe_error(&e))),
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let result = self.client.get_object().bucket(&self.bucket).key(self.full_key(key)).send().await;
            match result {
                Ok(out) => out.body.collect().await.map(|b| b.into_bytes()).map_err(|e| StoreError::io(key, e)),
                Err(e) if status(&e) == Some(404) => Err(StoreError::NotFound(key.to_string())),
                Err(e) => Err(StoreError::io(key, describe_error(&e))),
            }
        })
    }

    /// Hashes the body's pieces as they arrive: no copy of the whole object.
    fn digest<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(String, u64), StoreError>> {
        Box::pin(async move {
            let result = self.client.get_object().bucket(&self.bucket).key(self.full_key(key)).send().await;
            let mut body = match result {
                Ok(out) => out.body,
                Err(e) if status(&e) == Some(404) => return Err(StoreError::NotFound(key.to_string())),
                Err(e) => return Err(StoreError::io(key, describe_error(&e))),
            };
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            let mut len = 0u64;
            while let Some(piece) = body.try_next().await.map_err(|e| StoreError::io(key, e))? {
                ctx.update(&piece);
                len += piece.len() as u64;
            }
            Ok((hex::encode(ctx.finish()), len))
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StoreError>> {
        Box::pin(async move {
            let full = self.full_key(prefix);
            let strip = if self.prefix.is_empty() { 0 } else { self.prefix.len() + 1 };
            let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&full).into_paginator().send();
            let mut out = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| StoreError::io(prefix, describe_error(&e)))?;
                for obj in page.contents() {
                    let Some(key) = obj.key() else { continue };
                    out.push(ObjectMeta {
                        key: key[strip.min(key.len())..].to_string(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }

    fn worm(&self) -> BoxFuture<'_, Worm> {
        Box::pin(self.detect_worm())
    }

    fn retain<'a>(
        &'a self,
        key: &'a ObjectKey,
        until: time::OffsetDateTime,
        mode: LockMode,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            use aws_sdk_s3::types::{ObjectLockRetention, ObjectLockRetentionMode};
            let mode = match mode {
                LockMode::Governance => ObjectLockRetentionMode::Governance,
                LockMode::Compliance => ObjectLockRetentionMode::Compliance,
            };
            let until = aws_sdk_s3::primitives::DateTime::from_secs(until.unix_timestamp());
            let retention = ObjectLockRetention::builder().mode(mode).retain_until_date(until).build();
            self.client
                .put_object_retention()
                .bucket(&self.bucket)
                .key(self.full_key(key.as_str()))
                .retention(retention)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| StoreError::io(key, describe_error(&e)))
        })
    }

    fn legal_hold<'a>(&'a self, key: &'a ObjectKey, on: bool) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            use aws_sdk_s3::types::{ObjectLockLegalHold, ObjectLockLegalHoldStatus};
            let status = if on { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off };
            self.client
                .put_object_legal_hold()
                .bucket(&self.bucket)
                .key(self.full_key(key.as_str()))
                .legal_hold(ObjectLockLegalHold::builder().status(status).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| StoreError::io(key, describe_error(&e)))
        })
    }

    /// Deletes every version of the object, not only the newest: in a versioned
    /// bucket a plain DELETE only hides it behind a delete marker, and an old
    /// version of a wrapped key would make a shredded recording readable again.
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let full = self.full_key(key.as_str());
            let versions = self.versions(&full).await.map_err(|e| StoreError::io(key, e))?;
            if versions.is_empty() {
                return Ok(());
            }
            for version in versions {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| StoreError::io(key, describe_error(&e)))?;
            }
            Ok(())
        })
    }
}

impl S3Store {
    /// Detects Object Lock: the bucket's lock configuration says Enabled.
    async fn detect_worm(&self) -> Worm {
        match self.client.get_object_lock_configuration().bucket(&self.bucket).send().await {
            Ok(out) => match out.object_lock_configuration().and_then(|c| c.object_lock_enabled()) {
                Some(aws_sdk_s3::types::ObjectLockEnabled::Enabled) => Worm::Enforced,
                _ => Worm::Unsupported(format!("bucket {} has no Object Lock enabled", self.bucket)),
            },
            Err(e) => Worm::Unsupported(format!("bucket {}: {}", self.bucket, describe_error(&e))),
        }
    }

    /// Version ids (delete markers included) of exactly `full`; `null` in a bucket
    /// that was never versioned.
    async fn versions(&self, full: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(full)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .map_err(|e| describe_error(&e))?;
            let versions = page.versions().iter().filter(|v| v.key() == Some(full)).filter_map(|v| v.version_id());
            let markers = page.delete_markers().iter().filter(|m| m.key() == Some(full)).filter_map(|m| m.version_id());
            out.extend(versions.chain(markers).map(String::from));
            if page.is_truncated() != Some(true) {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(String::from);
            version_marker = page.next_version_id_marker().map(String::from);
            if key_marker.is_none() {
                return Ok(out);
            }
        }
    }
}
