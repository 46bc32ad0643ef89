package watchdog

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// sleeper starts `sleep 60` in a process group of its own, and a directory
// for the watchdog to remove. The channel closes when sleep has exited
// (and been waited for).
func sleeper(t *testing.T) (*exec.Cmd, string, chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	dir := filepath.Join(t.TempDir(), "daemon")
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, dir, exited
}

func TestWatchdog(t *testing.T) {
	tests := []struct {
		name  string
		stop  bool // Stop the watchdog rather than end the pipe
		acted bool
	}{
		{name: "pipe ends: the group stops, the directory goes", acted: true},
		{name: "stopped: nothing happens", stop: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, dir, exited := sleeper(t)
			wd, err := Start(cmd.Process.Pid, dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.stop {
				wd.Stop()
			} else {
				// What the test binary's death does: the write end
				// closes.
				wd.pipe.Close()
				defer wd.cmd.Wait()
			}
			select {
			case <-exited:
				if !tc.acted {
					t.Fatal("the watched process stopped")
				}
			case <-time.After(3 * time.Second):
				if tc.acted {
					t.Fatal("the watched process still runs 3 s after the pipe ended")
				}
				if _, err := os.Stat(dir); err != nil {
					t.Fatalf("a stopped watchdog removed %s: %v", dir, err)
				}
				return
			}
			// The directory goes right after the process is reaped.
			for deadline := time.Now().Add(35 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if _, err := os.Stat(dir); os.IsNotExist(err) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still there", dir)
				}
			}
		})
	}
}

// TestOwnerDies: when the process that started the watchdog exits without
// stopping it (here a child running this test binary, which starts a
// watchdog and exits at once), the watched group stops and its directory
// goes.
func TestOwnerDies(t *testing.T) {
	if pgid := os.Getenv("WATCHDOG_TEST_PGID"); pgid != "" {
		// The child: start the watchdog and die without Stop.
		n, _ := strconv.Atoi(pgid)
		if _, err := Start(n, os.Getenv("WATCHDOG_TEST_DIR")); err != nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	cmd, dir, exited := sleeper(t)
	child := exec.Command(os.Args[0], "-test.run=^TestOwnerDies$")
	child.Env = append(os.Environ(), "WATCHDOG_TEST_PGID="+strconv.Itoa(cmd.Process.Pid), "WATCHDOG_TEST_DIR="+dir)
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		t.Fatal("the watched process still runs 3 s after its watchdog's owner died")
	}
	for deadline := time.Now().Add(35 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there", dir)
		}
	}
}

// TestGroup starts commands with StartGroup: one stopped while it runs
// (SIGTERM ends it), one whose leader exits by itself (its watchdog stops
// with it, and Stop signals nothing).
func TestGroup(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		stop bool // Stop it; otherwise wait for it to exit
	}{
		{name: "stopped while running", argv: []string{"sleep", "60"}, stop: true},
		{name: "exits by itself", argv: []string{"true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "daemon")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			g, err := StartGroup(cmd, dir)
			if err != nil {
				t.Fatal(err)
			}
			if pgid, err := syscall.Getpgid(cmd.Process.Pid); err == nil && pgid != cmd.Process.Pid {
				t.Errorf("process group %d, want its own (%d)", pgid, cmd.Process.Pid)
			}
			if tc.stop {
				start := time.Now()
				g.Stop(30 * time.Second)
				if time.Since(start) > 10*time.Second {
					t.Errorf("Stop took %v: SIGTERM did not end it", time.Since(start))
				}
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
					t.Errorf("ended with %v, want SIGTERM", cmd.ProcessState)
				}
			} else {
				select {
				case <-g.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("Done not closed 10 s after the leader exited")
				}
				if g.wd.cmd.ProcessState == nil {
					t.Error("the watchdog still runs after the leader exited")
				}
				g.Stop(30 * time.Second)
			}
			select {
			case <-g.Done():
			default:
				t.Error("Done not closed after Stop")
			}
			// The watchdog was stopped, not fired: the directory stays.
			if _, err := os.Stat(dir); err != nil {
				t.Errorf("%s: %v", dir, err)
			}
		})
	}
}
