// Package docs keeps README.md and every page under docs/ honest. Its tests
// check the pages against the code: the parameter table against
// plugin.yaml, the option and metric tables against the packages that
// define them, every troubleshooting row against a test that produces its
// message with the real components, every YAML example against the code
// that will read it, every shell command against the command tree (running
// those that need no cluster against a loopback registry, and sending curl
// payloads to the real webhook handler) and the Makefile, and every
// relative link and anchor against the files and headings it names. Pages
// added under docs/ are checked the same way.
package docs
