// Package watchdog stops a test's daemon when the test binary dies without
// stopping it (a panic, go test's timeout): a shell waits on a pipe whose
// write end only this process holds, and acts when the pipe ends.
package watchdog

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// script waits until its standard input ends, then stops the process
// group $1 (SIGTERM, and SIGKILL if it is still there 30 s later) and
// removes the directory $2, but for what is mounted below it.
const script = `read _ || true
if kill -TERM -"$1" 2>/dev/null; then
	i=0
	while [ $i -lt 30 ] && kill -0 -"$1" 2>/dev/null; do sleep 1; i=$((i+1)); done
	kill -KILL -"$1" 2>/dev/null
fi
rm -rf --one-file-system "$2"
exit 0`

// Watchdog watches over one process group.
type Watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File
	once sync.Once
}

// Start starts a watchdog (in a process group of its own, so that stopping
// the watched one does not stop it) for the process group pgid, whose
// directory dir it removes after stopping it.
func Start(pgid int, dir string) (*Watchdog, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("sh", "-c", script, "sh", strconv.Itoa(pgid), dir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	return &Watchdog{cmd: cmd, pipe: w}, nil
}

// Stop ends the watchdog without it acting; calling it again does
// nothing. Call it before stopping the process group yourself, and as soon
// as the group's leader has exited and been waited for: once the group is
// gone, its number may be reused.
func (d *Watchdog) Stop() {
	d.once.Do(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		d.pipe.Close()
	})
}

// Group is a command running in a process group of its own under a
// watchdog: a test's daemon.
type Group struct {
	cmd  *exec.Cmd
	wd   *Watchdog
	done chan struct{}
}

// StartGroup starts cmd in a process group of its own (it sets
// cmd.SysProcAttr) with a watchdog that stops the group and removes dir if
// this process dies first. The group's leader is waited for on a goroutine
// of its own, which stops the watchdog as soon as the leader has exited:
// from then on the group's number may be another's.
func StartGroup(cmd *exec.Cmd, dir string) (*Group, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	wd, err := Start(cmd.Process.Pid, dir)
	if err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return nil, err
	}
	g := &Group{cmd: cmd, wd: wd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		wd.Stop()
		close(g.done)
	}()
	return g, nil
}

// Done is closed once the group's leader has exited and been waited for
// (its state is then in the command's ProcessState).
func (g *Group) Done() <-chan struct{} { return g.done }

// Stop stops the watchdog, then, unless the leader has exited already, the
// group: SIGTERM, and SIGKILL if the leader is still there after grace. It
// returns once the leader has been waited for.
func (g *Group) Stop(grace time.Duration) {
	g.wd.Stop()
	select {
	case <-g.done:
		return
	default:
	}
	syscall.Kill(-g.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(grace):
		syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
	}
}
