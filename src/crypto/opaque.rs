//! The OPAQUE steps secure rooms ([`super::room`]) and accounts
//! ([`super::account`]) both take, written once: each caller gives the
//! credential it registers or logs in to and the context it binds into the
//! key exchange (its protocol, its room or account, the TLS session), so a
//! login for one can never pass as the other. An error says only that a
//! message was malformed or that the other side did not prove itself.

use opaque_ke::rand::rngs::OsRng;
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientLoginFinishResult, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, RegistrationRequest, RegistrationResponse, RegistrationUpload, ServerLogin,
    ServerLoginParameters, ServerRegistration, ServerSetup,
};

use super::CryptoError;

/// The cipher suite of secure rooms v2 and of accounts.
pub(crate) struct Suite;

impl opaque_ke::ciphersuite::CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = opaque_ke::argon2::Argon2<'static>;
}

pub(super) fn bad(_: impl std::fmt::Debug) -> CryptoError {
    CryptoError::Malformed
}

/// The client's first registration message, and its state.
pub(super) fn register_start(
    password: &[u8],
) -> Result<(Vec<u8>, ClientRegistration<Suite>), CryptoError> {
    let start = ClientRegistration::<Suite>::start(&mut OsRng, password).map_err(bad)?;
    Ok((start.message.serialize().to_vec(), start.state))
}

/// The server's answer to a registration request for `credential`.
pub(super) fn register_respond(
    setup: &ServerSetup<Suite>,
    request: &[u8],
    credential: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let request = RegistrationRequest::<Suite>::deserialize(request).map_err(bad)?;
    let r = ServerRegistration::<Suite>::start(setup, request, credential).map_err(bad)?;
    Ok(r.message.serialize().to_vec())
}

/// The client's upload that finishes a registration (slow: Argon2id).
pub(super) fn register_finish(
    state: ClientRegistration<Suite>,
    password: &[u8],
    response: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let response = RegistrationResponse::<Suite>::deserialize(response).map_err(bad)?;
    let params = ClientRegistrationFinishParameters::default();
    let done = state
        .finish(&mut OsRng, password, response, params)
        .map_err(bad)?;
    Ok(done.message.serialize().to_vec())
}

/// The record the server keeps from the client's upload.
pub(super) fn register_record(upload: &[u8]) -> Result<ServerRegistration<Suite>, CryptoError> {
    let upload = RegistrationUpload::<Suite>::deserialize(upload).map_err(bad)?;
    Ok(ServerRegistration::finish(upload))
}

/// A whole registration of `credential` for `password` in one process
/// (slow: Argon2id).
pub(super) fn register(
    setup: &ServerSetup<Suite>,
    password: &[u8],
    credential: &[u8],
) -> Result<ServerRegistration<Suite>, CryptoError> {
    let (request, state) = register_start(password)?;
    let response = register_respond(setup, &request, credential)?;
    register_record(&register_finish(state, password, &response)?)
}

/// The client's KE1, and its state.
pub(super) fn login_start(password: &[u8]) -> Result<(Vec<u8>, ClientLogin<Suite>), CryptoError> {
    let start = ClientLogin::<Suite>::start(&mut OsRng, password).map_err(bad)?;
    Ok((start.message.serialize().to_vec(), start.state))
}

/// The client checks the server's KE2 under `context`: KE3 to send and the
/// export key, or `NotProven`. Slow (Argon2id).
pub(super) fn login_finish(
    state: ClientLogin<Suite>,
    password: &[u8],
    ke2: &[u8],
    context: &[u8],
) -> Result<ClientLoginFinishResult<Suite>, CryptoError> {
    let ke2 = CredentialResponse::<Suite>::deserialize(ke2).map_err(bad)?;
    let params = ClientLoginFinishParameters::new(Some(context), Default::default(), None);
    state
        .finish(&mut OsRng, password, ke2, params)
        .map_err(|_| CryptoError::NotProven)
}

/// The server's KE2 for `credential` under `context`, and its state;
/// `record` `None` runs against OPAQUE's fake record.
pub(super) fn serve_start(
    setup: &ServerSetup<Suite>,
    record: Option<ServerRegistration<Suite>>,
    ke1: &[u8],
    credential: &[u8],
    context: &[u8],
) -> Result<(Vec<u8>, ServerLogin<Suite>), CryptoError> {
    let ke1 = CredentialRequest::<Suite>::deserialize(ke1).map_err(bad)?;
    let params = ServerLoginParameters {
        context: Some(context),
        ..Default::default()
    };
    let start =
        ServerLogin::start(&mut OsRng, setup, record, ke1, credential, params).map_err(bad)?;
    Ok((start.message.serialize().to_vec(), start.state))
}

/// The server checks the client's KE3 under `context`.
pub(super) fn serve_finish(
    state: ServerLogin<Suite>,
    ke3: &[u8],
    context: &[u8],
) -> Result<(), CryptoError> {
    let ke3 = CredentialFinalization::<Suite>::deserialize(ke3).map_err(bad)?;
    let params = ServerLoginParameters {
        context: Some(context),
        ..Default::default()
    };
    state
        .finish(ke3, params)
        .map(|_| ())
        .map_err(|_| CryptoError::NotProven)
}
