//! The device authorization grant (RFC 8628): starting it, and polling the
//! token endpoint to its end (`device.rs` does the waiting).

use std::time::Duration;

use authresult_core::{AuthResult, LoginPrompt, LoginRequest, PendingAuthorization};
use openidconnect::core::CoreDeviceAuthorizationResponse;
use openidconnect::{CsrfToken, DeviceAuthorizationUrl};
use url::Url;

use super::tokens::ResponseCheck;
use super::{OidcProvider, request_error};
use crate::device::DeviceProgress;
use crate::error::{Endpoint, OidcError};
use crate::id_token::NonceCheck;
use crate::pending::{PendingData, PendingKey};

impl OidcProvider {
    pub(super) async fn begin_device(
        &self,
        request: &LoginRequest,
    ) -> Result<PendingAuthorization, OidcError> {
        let d = self.inner.discovery.get().await?;
        let dpop_key = self.login_key(&d)?;
        let url = d
            .extra()
            .device_authorization_endpoint
            .clone()
            .ok_or(OidcError::EndpointMissing {
                endpoint: Endpoint::DeviceAuthorization,
            })?;
        let client = self
            .client(&d)
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(url));
        let mut start = client.exchange_device_code().add_scopes(self.scopes());
        for (name, value) in self.extra_params(request) {
            start = start.add_extra_param(name, value);
        }
        let response: CoreDeviceAuthorizationResponse = start
            .request_async(&self.inner.http.at(Endpoint::DeviceAuthorization))
            .await
            .map_err(|e| request_error(Endpoint::DeviceAuthorization, e))?;
        let verification_uri = Url::parse(response.verification_uri().as_str()).map_err(|_| {
            OidcError::malformed(Endpoint::DeviceAuthorization, "`verification_uri` is not a URL")
        })?;
        let verification_uri_complete = match response.verification_uri_complete() {
            Some(complete) => Some(Url::parse(complete.secret()).map_err(|_| {
                OidcError::malformed(
                    Endpoint::DeviceAuthorization,
                    "`verification_uri_complete` is not a URL",
                )
            })?),
            None => None,
        };
        let interval_secs = response.interval().as_secs();
        let expires_at = request.now.saturating_add(response.expires_in());
        let data = PendingData::Device {
            issuer: d.issuer.clone(),
            device_code: response.device_code().secret().clone(),
            interval_secs,
            expires_at,
            dpop: dpop_key.as_ref().map(PendingKey::of),
        };
        Ok(PendingAuthorization {
            key: request.key.clone(),
            state: CsrfToken::new_random().secret().clone(),
            prompt: LoginPrompt::DeviceCode {
                user_code: response.user_code().secret().clone(),
                verification_uri,
                verification_uri_complete,
                interval_secs,
            },
            redirect_uri: None,
            created_at: request.now,
            expires_at,
            secret: data.to_secret()?,
            origin: None,
        })
    }

    /// Polls the device flow to its end (RFC 8628): waits `interval` before
    /// each poll (5 s when the provider names none), adds 5 s to all later
    /// polls on `slow_down`, backs off on transient failures, and stops when
    /// the code expires. `on_progress` is called before each wait so a UI can
    /// show the time left. Dropping the future cancels; nothing keeps polling.
    pub async fn poll_device(
        &self,
        pending: &PendingAuthorization,
        on_progress: impl FnMut(DeviceProgress) + Send,
    ) -> Result<AuthResult, OidcError> {
        let data = PendingData::from_pending(pending)?;
        let PendingData::Device {
            issuer,
            device_code,
            interval_secs,
            expires_at,
            dpop,
        } = data
        else {
            return Err(OidcError::InvalidPending {
                reason: "not a device login".into(),
            });
        };
        let d = self.inner.discovery.get().await?;
        if issuer != d.issuer {
            return Err(OidcError::InvalidPending {
                reason: "it was started at another issuer".into(),
            });
        }
        let token_url =
            d.metadata
                .token_endpoint()
                .map(|u| u.url().clone())
                .ok_or(OidcError::EndpointMissing {
                    endpoint: Endpoint::Token,
                })?;
        let interval = self
            .inner
            .options
            .device_interval_override
            .unwrap_or_else(|| match interval_secs {
                0 => crate::options::DEFAULT_DEVICE_INTERVAL,
                secs => Duration::from_secs(secs),
            });
        let proofs = dpop.map(|k| k.key()).transpose()?.map(|key| self.proofs(key));
        let response = crate::device::poll(
            crate::device::PollSetup {
                http: &self.inner.http,
                token_url: &token_url,
                device_code: &device_code,
                client_id: &self.inner.settings.client_id,
                client_secret: self.inner.settings.client_secret.as_ref().map(|s| s.secret()),
                resource: self.resource(),
                interval,
                expires_at,
                clock: self.inner.options.clock.as_ref(),
                sleeper: self.inner.options.sleeper.as_ref(),
                proofs: proofs.as_ref(),
            },
            on_progress,
        )
        .await?;
        let binding = self.binding_of(proofs.as_ref(), &response.token_type_name(), self.dpop_required())?;
        let mut result = self
            .auth_result(&d, response, ResponseCheck::Login(NonceCheck::IfPresent(None)))
            .await?;
        result.dpop = binding;
        Ok(result)
    }
}
