package clocktest_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
)

// The fixed clock of the tests is decades away from the wall clock, so that
// a test mixing the two fails on its first run.
func TestEpochIsFarFromToday(t *testing.T) {
	if os.Getenv("COUNTERSIGN_TEST_EPOCH") != "" {
		t.Logf("COUNTERSIGN_TEST_EPOCH moves the epoch to %s", clocktest.Epoch.Format(time.RFC3339))
		return
	}
	gap := time.Now().Sub(clocktest.Epoch) // wall clock: what the epoch is kept away from
	if gap < 20*365*24*time.Hour {
		t.Fatalf("the default epoch %s is only %s from today: move it further back", clocktest.Epoch.Format(time.DateOnly), gap)
	}
}

func TestAt(t *testing.T) {
	got := clocktest.At(2, 8, 30, 15)
	if want := clocktest.Epoch.Add(2*24*time.Hour + 8*time.Hour + 30*time.Minute + 15*time.Second); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("At(2, 8, 30, 15) = %s, want %s", got, want)
	}
	if c := clocktest.Clock(1, 9, 0); !c.Now().Equal(clocktest.At(1, 9, 0, 0)) {
		t.Fatalf("Clock(1, 9, 0) = %s", c.Now())
	}
	if s := clocktest.Stamp(time.Date(2001, 11, 4, 12, 0, 1, 5, time.FixedZone("CET", 3600))); s != "2001-11-04T11:00:01.000000005Z" { // calendar-free: a format
		t.Fatalf("Stamp = %s", s)
	}
}

var (
	// a calendar date written into a test: time.Date(2026, ...) or "2026-11-01T..."
	fixedDate = regexp.MustCompile(`time\.Date\(\s*\d{4}\s*,|"\d{4}-\d{2}-\d{2}T`)
	wallClock = regexp.MustCompile(`\btime\.(Now|Since|Until)\(`)
)

// TestNoCalendarDatesInTests keeps every test on the one epoch: a fixed date
// in a test, or a wall-clock reading, is refused unless its line says why it
// is safe (a "calendar-free:" comment for data that no clock compares with,
// a "wall clock:" comment for deadlines and durations that never meet the
// service's clock). That comment may also stand on the line above.
func TestNoCalendarDatesInTests(t *testing.T) {
	root := repoRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "node_modules" || rel == filepath.Join("internal", "clock") {
				return filepath.SkipDir
			}
			return nil
		}
		testCode := strings.HasSuffix(path, "_test.go") ||
			(strings.HasSuffix(path, ".go") && (strings.Contains(rel, "storetest") || strings.Contains(rel, "dynamotest")))
		if !testCode {
			return nil
		}
		checked++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		prev := ""
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			said := line + prev
			switch {
			case fixedDate.MatchString(line) && !strings.Contains(said, "calendar-free:"):
				t.Errorf("%s:%d: a calendar date in a test; take times from clocktest (or say why with // calendar-free: ...)\n\t%s", rel, n, strings.TrimSpace(line))
			case wallClock.MatchString(line) && !strings.Contains(said, "wall clock:"):
				t.Errorf("%s:%d: the wall clock in a test; take times from the clock the code under test uses (or say why with // wall clock: ...)\n\t%s", rel, n, strings.TrimSpace(line))
			}
			prev = line
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 40 {
		t.Fatalf("only %d test files found under %s", checked, root)
	}
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}
