package catalog_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider/catalog"
)

// Every provider example in the README builds: its type is known and its
// options are valid, with the keys its types read from the environment
// set. (Not parallel: it sets the environment.)
func TestReadmeProviderExamplesBuild(t *testing.T) {
	for _, env := range []string{"OPENAI_API_KEY", "ASSEMBLYAI_API_KEY", "RUNWAYML_API_SECRET", "FAL_KEY", "REPLICATE_API_TOKEN", "PIAPI_API_KEY"} {
		t.Setenv(env, "key-for-the-readme-test")
	}
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(- name: .*?)```").FindAllStringSubmatch(string(readme), -1)
	types := map[string]bool{}
	for _, b := range blocks {
		cfg, err := config.Parse([]byte("providers:\n" + indent(b[1])))
		if err != nil {
			t.Errorf("README example:\n%s\n%v", b[1], err)
			continue
		}
		if _, err := catalog.Build(cfg.Providers, nil, nil, nil); err != nil {
			t.Errorf("README example:\n%s\n%v", b[1], err)
		}
		for _, p := range cfg.Providers {
			types[p.Type] = true
		}
	}
	for typ := range catalog.Factories {
		if !types[typ] && typ != "sim" {
			t.Errorf("the README has no example of provider type %s", typ)
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
