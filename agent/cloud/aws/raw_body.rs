//! Two SDK interceptors that let an operation carry the API's own JSON: one sends a given body
//! in place of what the SDK serialized, the other keeps the response body the SDK read. The SDK
//! still resolves the endpoint, signs (the body is swapped before signing), retries, times out
//! and maps errors; only the payload is ours.

use aws_sdk_ecs::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use std::sync::{Arc, Mutex};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends `0` as the request body (every attempt), with its Content-Length.
#[derive(Debug)]
pub struct SendBody(pub Bytes);

impl Intercept for SendBody {
    fn name(&self) -> &'static str {
        "amagent::SendBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        *request.body_mut() = SdkBody::from(self.0.clone());
        request
            .headers_mut()
            .insert("content-length", self.0.len().to_string());
        Ok(())
    }
}

/// Keeps the last attempt's response body (the SDK has read it whole by then: these operations
/// do not stream).
#[derive(Clone, Debug, Default)]
pub struct ReadBody(Arc<Mutex<Option<Bytes>>>);

impl ReadBody {
    pub fn take(&self) -> Option<Bytes> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Intercept for ReadBody {
    fn name(&self) -> &'static str {
        "amagent::ReadBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context
            .response()
            .body()
            .bytes()
            .map(Bytes::copy_from_slice);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = body;
        Ok(())
    }
}
