package difftest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/sfnlocal/difftest"
)

// TestDefinitions runs every testdata/NAME.CASE.scenario.json against
// testdata/NAME.asl.json on both interpreters.
func TestDefinitions(t *testing.T) {
	t.Parallel()
	scenarios, err := filepath.Glob("testdata/*.scenario.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) == 0 {
		t.Fatal("no scenarios")
	}
	for _, path := range scenarios {
		base := filepath.Base(path)
		machine, _, _ := strings.Cut(base, ".")
		t.Run(strings.TrimSuffix(base, ".scenario.json"), func(t *testing.T) {
			t.Parallel()
			def, err := os.ReadFile(filepath.Join("testdata", machine+".asl.json"))
			if err != nil {
				t.Fatal(err)
			}
			sc, err := difftest.LoadScenario(path)
			if err != nil {
				t.Fatal(err)
			}
			difftest.Compare(t, def, nil, sc)
		})
	}
}
