// Package egress decides where the sidecar may connect on behalf of an
// Application, and enforces it on every connection.
//
// The trust boundary (DESIGN section 10): flags, registries.conf,
// plugin.yaml and mounted files are admin input; everything that arrives
// with an Application (parameters, plugin env, .argocd-image-resolver.yaml,
// the repository and its Chart.yaml) is author input. Authors name
// registries, and through them token realms and redirects; chart
// repositories in Chart.yaml. Those hosts are checked here:
//
//   - link-local addresses (169.254.0.0/16, fe80::/10, and the IPv6
//     instance-metadata address fd00:ec2::254) are never reached, whether
//     named as a literal or reached through DNS, a redirect or a realm;
//   - without rules (no `allowed` and no `projects` in registries.conf)
//     every other address is reached, so single-tenant installs need no
//     configuration;
//   - with rules, a host must match one of the Policy's patterns, and a
//     name that resolves to loopback is refused unless the pattern names
//     loopback itself (127.0.0.1, [::1] or localhost).
//
// The host check runs for every request (so for each redirect and each
// token realm), the address check for every connection, after DNS
// resolution. The sidecar's own cloud credential helpers (instance
// metadata, EKS Pod Identity) are admin configuration and use their own
// HTTP clients, never a Transport of this package.
package egress
