package store

import (
	"testing"
	"testing/fstest"
)

func TestReadMigrations(t *testing.T) {
	t.Parallel()
	ms, err := ReadMigrations(fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
		"m/0010_late.sql": {Data: []byte("C")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, m := range ms {
		got += m.Name + "=" + m.SQL + " "
	}
	if want := "0001_init=A 0002_more=B 0010_late=C "; got != want {
		t.Errorf("migrations %q, want %q", got, want)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number":      {"m/init.sql": {}},
		"shared version": {"m/1_a.sql": {}, "m/0001_b.sql": {}},
		"zero":           {"m/0_a.sql": {}},
	} {
		if _, err := ReadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
