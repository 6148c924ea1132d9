// Package docs keeps README.md honest. Its tests check the README against
// the code: the parameter table against plugin.yaml, the option, metric and
// error tables against the packages that define them, every YAML example
// against the parsers that will read it, and every shell command against the
// command tree (running those that need no cluster against a loopback
// registry) and the Makefile.
package docs
