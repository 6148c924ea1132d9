package resolve

import "github.com/argocd-image-resolver/argocd-image-resolver/webhookpayload"

// Registry push notifications are decoded by package webhookpayload, which
// holds the rules, their tests and the fuzz target; these names keep the
// receiver's code as it reads. Event repositories come as the registry
// names them: spell them with (*Resolver).CanonicalRepository before
// comparing.

// Webhook providers accepted by ParseWebhook (the `type` query parameter of
// the receiver).
const (
	WebhookDockerHub    = webhookpayload.DockerHub
	WebhookGHCR         = webhookpayload.GHCR
	WebhookHarbor       = webhookpayload.Harbor
	WebhookQuay         = webhookpayload.Quay
	WebhookDistribution = webhookpayload.Distribution
	WebhookGeneric      = webhookpayload.Generic
)

// Signature headers (see webhookpayload).
const (
	SignatureHeader       = webhookpayload.SignatureHeader
	GitHubSignatureHeader = webhookpayload.GitHubSignatureHeader
	GitHubEventHeader     = webhookpayload.GitHubEventHeader
)

// The errors of ParseWebhook (see webhookpayload).
var (
	ErrUnknownWebhook   = webhookpayload.ErrUnknown
	ErrMalformedWebhook = webhookpayload.ErrMalformed
	ErrIgnoredWebhook   = webhookpayload.ErrIgnored
)

// PushEvent is one image push a registry reported.
type PushEvent = webhookpayload.PushEvent

// GenericEvent is the body of a `generic` webhook, as the notify command
// sends it.
type GenericEvent = webhookpayload.GenericEvent

// WebhookProviders lists the accepted provider names, sorted.
func WebhookProviders() []string { return webhookpayload.Providers() }

// ParseWebhook decodes a registry's push notification (webhookpayload.Parse).
func ParseWebhook(provider string, body []byte) ([]PushEvent, error) {
	return webhookpayload.Parse(provider, body)
}

// SignWebhook returns the signature header value of body under secret
// (webhookpayload.Sign).
func SignWebhook(secret, body []byte) string { return webhookpayload.Sign(secret, body) }

// VerifyWebhookSignature checks a "sha256=<hex>" header against body in
// constant time (webhookpayload.VerifySignature).
func VerifyWebhookSignature(secret, body []byte, header string) error {
	return webhookpayload.VerifySignature(secret, body, header)
}
