//! Docent's HTTP answer server: the chat API of `API.md` on axum/hyper.
//!
//! Empty until the server issue: it will hold the `Router`, tower layers, SSE
//! streaming, auth, rate limits, the store and the generators.
