// Package worker runs Helm renders in child processes of the plugin's own
// binary, so that a render can be stopped. Helm's template engine cannot
// be interrupted: a template that loops for minutes or allocates without
// bound would keep its CPU and memory long after its caller gave up, and
// outside the server's render slots.
//
// A Pool keeps its workers started ahead. A render leases one worker from
// Prepare (load the chart, merge the values, report the pins) to Close,
// Render in between; a worker renders one chart at a time. When the
// render's context ends first, or the worker's memory passes the limit,
// the pool kills the worker's process group, waits until it is gone and
// starts another; the caller's render slot is held until then.
//
// The parent and a worker speak length-prefixed JSON frames over two pipes
// the worker finds as file descriptors 3 (requests) and 4 (answers); its
// standard output and error are the sidecar's log. Serve is the worker's
// side, run by the hidden `render-worker` command.
package worker
