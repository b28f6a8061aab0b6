package sqlitestore_test

import (
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/prompt/cachetest"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
)

func TestPromptCacheConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T, now func() time.Time) cachetest.Adapter {
		s, _ := openStore(t, sqlitedb.Options{}, sqlitestore.Options{Now: now})
		return cachetest.Adapter{Cache: s, PurgeExpired: s.PurgeExpiredPrompts}
	})
}
