// Package worker runs Helm renders and Kustomize builds in child processes
// of the plugin's own binary, so that a render can be stopped. Helm's
// template engine cannot be interrupted: a template that loops for minutes
// or allocates without bound would keep its CPU and memory long after its
// caller gave up, and outside the server's render slots. Nor can a
// Kustomize build between two reads, and its memory grows with what the
// kustomization makes it build (a base named many times over).
//
// A Pool keeps its workers started ahead. A render leases one worker from
// Prepare (load the chart, merge the values, report the pins) to Close,
// Render in between; a worker renders one chart at a time. A Kustomize
// build (Pool.Kustomize, cmp.Kustomizer) leases one for the build alone,
// sent the edited kustomization and the repository: all its files when it
// is held in memory, its folder when it is on disk. When the render's
// context ends first, or the worker's memory passes the limit, the pool
// kills the worker's process group, waits until it is gone and starts
// another; the caller's render slot is held until then.
//
// The parent and a worker speak length-prefixed JSON frames over two pipes
// the worker finds as file descriptors 3 (requests) and 4 (answers); the
// files of a repository held in memory follow their request's frame as
// they are (the frame lists their names and sizes). The worker's standard
// output and error are the sidecar's log. Serve is the worker's side, run
// by the hidden `render-worker` command.
package worker
