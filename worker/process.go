package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/argocd-image-resolver/argocd-image-resolver/cmp"
)

// process is one running worker and the parent's ends of its pipes.
type process struct {
	cmd      *exec.Cmd
	requests *os.File // written here, fd 3 in the worker
	answers  *os.File // read here, fd 4 in the worker
	exited   chan struct{}
	waitErr  error // set before exited is closed
	// charts are the charts this worker was sent (its chart cache).
	charts *chartKeys
}

// startProcess starts the command newCmd returns as a worker, in a process
// group of its own (killed as one), killed too if this process dies.
func startProcess(newCmd func() *exec.Cmd, env []string) (*process, error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ansR, ansW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	cmd := newCmd()
	cmd.ExtraFiles = []*os.File{reqR, ansW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stderr
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	err = cmd.Start()
	// The worker's ends are its own now (or nobody's).
	reqR.Close()
	ansW.Close()
	if err != nil {
		reqW.Close()
		ansR.Close()
		return nil, fmt.Errorf("starting a render worker (%s): %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, requests: reqW, answers: ansR, exited: make(chan struct{}), charts: newChartKeys()}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// pid is the worker's process id (and process group id).
func (p *process) pid() int { return p.cmd.Process.Pid }

// alive reports whether the worker still runs.
func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the worker's process group and waits until the worker is
// gone, so that nothing of it runs, reads or writes afterwards.
func (p *process) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.exited
	p.requests.Close()
	p.answers.Close()
}

// rss is the worker's resident memory, in bytes.
func (p *process) rss() (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/statm")
	if err != nil {
		return 0, err
	}
	fields := bytes.Fields(raw)
	if len(fields) < 2 {
		return 0, fmt.Errorf("unexpected statm %q", raw)
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// MemoryLimitError is a render stopped because its worker's memory passed
// the limit.
type MemoryLimitError struct{ RSS, Limit int64 }

func (e *MemoryLimitError) Error() string {
	return fmt.Sprintf("the render used %d MiB, over the %d MiB a render may use (serve --render-memory-limit); the render worker was stopped",
		e.RSS>>20, e.Limit>>20)
}

func (e *MemoryLimitError) Is(target error) bool { return target == cmp.ErrRenderLimit }

// RequestTooLargeError is a render request whose frame (values,
// parameters, the names of the files sent along) is over the limit of a
// worker. It is not sent, and the worker stays in service.
type RequestTooLargeError struct{ Size, Limit int64 }

func (e *RequestTooLargeError) Error() string {
	return fmt.Sprintf("the render request is %d bytes (values, parameters and file names), over the %d-byte limit of a render worker", e.Size, e.Limit)
}

func (e *RequestTooLargeError) Is(target error) bool { return target == cmp.ErrRenderLimit }

// ExitError is a worker that ended while it rendered.
type ExitError struct{ Err error }

func (e *ExitError) Error() string {
	return fmt.Sprintf("the render worker exited during the render (%v); see the sidecar log", e.Err)
}

func (e *ExitError) Unwrap() error { return e.Err }

// watchInterval is how often the memory of a rendering worker is read.
const watchInterval = 50 * time.Millisecond

type callResult struct {
	resp response
	err  error
}

// call sends req and waits for the answer, for ctx to end or for the
// worker's memory to pass memLimit (zero: no limit). broken reports that
// the worker was killed or its pipes failed: it must not be used again.
func (p *process) call(ctx context.Context, req request, maxAnswer, memLimit int64) (resp response, broken bool, err error) {
	body, files, err := encodeRequest(req)
	if err != nil {
		return response{}, false, err
	}
	if int64(len(body)) > maxRequestFrame {
		// The worker would refuse it: it is not sent.
		return response{}, false, &RequestTooLargeError{Size: int64(len(body)), Limit: maxRequestFrame}
	}
	done := make(chan callResult, 1)
	go func() {
		if err := writeRequest(p.requests, body, files); err != nil {
			done <- callResult{err: err}
			return
		}
		var r response
		err := readFrame(p.answers, maxAnswer, &r)
		done <- callResult{resp: r, err: err}
	}()
	var tick <-chan time.Time
	if memLimit > 0 {
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case r := <-done:
			if r.err != nil {
				p.kill()
				return response{}, true, p.failure(r.err)
			}
			return r.resp, false, nil
		case <-ctx.Done():
			// An answer that is already here wins over the end of ctx.
			select {
			case r := <-done:
				if r.err == nil {
					return r.resp, false, nil
				}
			default:
			}
			p.kill()
			<-done
			why := "Helm's templates cannot be interrupted"
			if req.Op == opKustomize {
				why = "a Kustomize build cannot be interrupted"
			}
			return response{}, true, fmt.Errorf("%w: the render did not finish in time; its worker was stopped (%s)", ctx.Err(), why)
		case <-tick:
			rss, err := p.rss()
			if err == nil && rss > memLimit {
				p.kill()
				<-done
				return response{}, true, &MemoryLimitError{RSS: rss, Limit: memLimit}
			}
		}
	}
}

// failure explains a broken exchange: the worker's exit when it exited.
func (p *process) failure(err error) error {
	var tooLarge *FrameTooLargeError
	if errors.As(err, &tooLarge) {
		return err
	}
	<-p.exited
	if p.waitErr != nil {
		return &ExitError{Err: p.waitErr}
	}
	return &ExitError{Err: err}
}
