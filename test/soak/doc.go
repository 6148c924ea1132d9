// Package soak runs the plugin's `serve` command in process for minutes
// under registry faults, as a user runs it: Argo CD's own CMP client
// renders through the unix socket, and a real registry on loopback answers
// behind a handler that injects 5xx answers, 429 with Retry-After,
// connection resets and stalls. It checks that renders never fail while a
// cached value exists, that the registry sees no more requests than the
// registries.conf limit allows, and that the heap and the goroutines stay
// flat. SOAK=10m (a Go duration) runs it longer; -short runs it for 20 s.
package soak
