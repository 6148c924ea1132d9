// Package sigverify checks that an image digest carries a valid signature
// for an admin-defined signature policy (registries.conf
// `signature-policies`), so that only signed candidates are deployed.
//
// # Trust model
//
// The admin decides what is trusted: a policy names a public key
// (cosign-key), a Sigstore trusted root plus the certificate identity that
// must have signed (keyless), or a Notation trust policy and trust store
// (notation). Those files are read once, by New, and never fetched from
// the network. Application authors only name a policy; they cannot add a
// key, an identity or a file.
//
// Everything that comes from a registry is untrusted input: signature
// manifests, layers and bundles are size-bounded, at most a few are looked
// at per digest, and their content never appears in errors or logs (only
// our own words and values parsed out of them, such as a certificate's
// subject). A signature only counts when it is bound to the digest being
// verified: the simple-signing payload's docker-manifest-digest, the
// subject of a DSSE in-toto statement, or Notation's target artifact
// descriptor must name it. All cryptography is done by sigstore-go and
// notation-go.
//
// Signatures are found in two places: the OCI 1.1 referrers of the digest
// (Sigstore bundles, as cosign v3 writes them, and Notation signatures),
// and cosign's tag scheme <repo>:sha256-<hex>.sig (simple-signing payloads
// with the signature in layer annotations).
//
// # Verdicts
//
// Verify answers with a Result: Verified, or not with a Reason. It returns
// an error only when it could not check (the registry did not answer, an
// unknown policy). Verdicts are cached in a store keyed by the policy's
// fingerprint (its definition and the content of its files), the
// repository and the digest: digests are immutable, and a changed key or
// trust root changes the fingerprint. Failures to check are never cached.
package sigverify
