//! Raw access to a store behind the service's back: what an attacker, a careless
//! admin or a failing disk could do. Unlike the service, it overwrites freely.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub enum RawStore {
    Local(PathBuf),
    S3 { client: aws_sdk_s3::Client, bucket: String, prefix: String },
}

pub type Snapshot = BTreeMap<String, Vec<u8>>;

impl RawStore {
    fn s3_key(prefix: &str, key: &str) -> String {
        format!("{prefix}/{key}")
    }

    pub async fn list(&self) -> Vec<String> {
        match self {
            RawStore::Local(root) => {
                let mut out = Vec::new();
                let mut stack = vec![root.clone()];
                while let Some(dir) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                    for e in entries.flatten() {
                        let p = e.path();
                        if p.is_dir() {
                            if p.file_name().is_some_and(|n| n != ".tmp") {
                                stack.push(p);
                            }
                        } else if let Ok(rel) = p.strip_prefix(root) {
                            out.push(rel.to_string_lossy().into_owned());
                        }
                    }
                }
                out.sort();
                out
            }
            RawStore::S3 { client, bucket, prefix } => {
                let mut out = Vec::new();
                let mut pages =
                    client.list_objects_v2().bucket(bucket).prefix(format!("{prefix}/")).into_paginator().send();
                while let Some(page) = pages.next().await {
                    for o in page.expect("list").contents() {
                        out.push(o.key().unwrap_or_default()[prefix.len() + 1..].to_string());
                    }
                }
                out.sort();
                out
            }
        }
    }

    pub async fn read(&self, key: &str) -> Vec<u8> {
        match self {
            RawStore::Local(root) => std::fs::read(root.join(key)).expect("read object"),
            RawStore::S3 { client, bucket, prefix } => {
                let o =
                    client.get_object().bucket(bucket).key(Self::s3_key(prefix, key)).send().await.expect("get object");
                o.body.collect().await.expect("body").into_bytes().to_vec()
            }
        }
    }

    pub async fn write(&self, key: &str, bytes: Vec<u8>) {
        match self {
            RawStore::Local(root) => {
                let p = root.join(key);
                std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                // Replace, as an overwrite would: a hard-linked name is not edited in place.
                let _ = std::fs::remove_file(&p);
                std::fs::write(&p, bytes).expect("write object");
            }
            RawStore::S3 { client, bucket, prefix } => {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .body(bytes.into())
                    .send()
                    .await
                    .expect("put object");
            }
        }
    }

    pub async fn delete(&self, key: &str) {
        match self {
            RawStore::Local(root) => std::fs::remove_file(root.join(key)).expect("delete object"),
            RawStore::S3 { client, bucket, prefix } => {
                client
                    .delete_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .send()
                    .await
                    .expect("delete object");
            }
        }
    }

    pub async fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        for key in self.list().await {
            out.insert(key.clone(), self.read(&key).await);
        }
        out
    }

    /// Makes the store hold exactly `snap`.
    pub async fn restore(&self, snap: &Snapshot) {
        for key in self.list().await {
            if !snap.contains_key(&key) {
                self.delete(&key).await;
            }
        }
        for (key, bytes) in snap {
            self.write(key, bytes.clone()).await;
        }
    }
    /// Every ledger entry in the store's batches, in order, as JSON.
    pub async fn ledger_entries(&self) -> Vec<serde_json::Value> {
        let mut batches: Vec<String> = self.list().await.into_iter().filter(|k| k.starts_with("ledger/")).collect();
        batches.sort();
        let mut out = Vec::new();
        for b in batches {
            let text = String::from_utf8(self.read(&b).await).expect("a ledger batch is UTF-8");
            out.extend(
                text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a ledger line is JSON")),
            );
        }
        out
    }

    /// Every object's bytes, to search for what must not be there.
    pub async fn all_bytes(&self) -> Vec<(String, Vec<u8>)> {
        self.snapshot().await.into_iter().collect()
    }
}
