package workflow

import (
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

// pemKey is a private key as PEM armors it (RFC 7468), and pgpKey as
// OpenPGP does (RFC 4880); their bodies are not real keys.
const (
	pemKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
	pgpKey = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGN5Y2sBCADpgpBodyOfAKey\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n"
)

// TestCheckRejectsSecretValues sets each literal environment variable of
// the table on a deployment of the fixture: the check refuses it with an
// error that names the file and the variable's JSON pointer, and never
// the value.
func TestCheckRejectsSecretValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, env, value string
		// reveal are the parts of the value the error must not show.
		reveal []string
		want   string
	}{
		{"URL password with a bad escape", "DATABASE_URL", "postgres://app:Sup3r%X@db/app", []string{"Sup3r"}, "holds a URL with a password"},
		{"URL password with a slash", "DATABASE_URL", "postgres://app:Sup3r/s3cret@db/app", []string{"Sup3r"}, "holds a URL with a password"},
		{"MySQL URL of a Go DSN", "DATABASE_URL", "mysql://u:p@tcp(db:3306)/x", []string{"u:p@"}, "holds a URL with a password"},
		{"Go MySQL DSN", "MYSQL_DSN", "app:My5ecret@tcp(db:3306)/shop?parseTime=true", []string{"My5ecret"}, "holds a MySQL DSN with a password"},
		{"JDBC password property", "JDBC_URL", "jdbc:postgresql://db:5432/app?user=app&password=Jdbc5ecret", []string{"Jdbc5ecret"}, "holds a password in a connection string"},
		{"JDBC SQL Server password", "JDBC_URL", "jdbc:sqlserver://db:1433;databaseName=app;user=sa;password=Mssql5ecret;", []string{"Mssql5ecret"}, "holds a password in a connection string"},
		{"libpq keywords", "PG_CONNINFO", "host=db port=5432 user=app password=Libpq5ecret dbname=app", []string{"Libpq5ecret"}, "holds a password in a connection string"},
		{"ODBC PWD", "ODBC", "Driver={PostgreSQL};Server=db;Uid=app;Pwd=Odbc5ecret;", []string{"Odbc5ecret"}, "holds a password in a connection string"},
		{"PGPASSWORD", "PGPASSWORD", "Pg5ecret", []string{"Pg5ecret"}, `"PGPASSWORD" looks like a credential`},
		{"RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_PASS", "Rabbit5ecret", []string{"Rabbit5ecret"}, `"RABBITMQ_DEFAULT_PASS" looks like a credential`},
		{"DB_PASS", "DB_PASS", "Db5ecret", []string{"Db5ecret"}, `"DB_PASS" looks like a credential`},
		{"ADMIN_PASSWORD2", "ADMIN_PASSWORD2", "Admin5ecret", []string{"Admin5ecret"}, `"ADMIN_PASSWORD2" looks like a credential`},
		{"PEM private key", "SSH_KEY", pemKey, []string{"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"}, "holds a private key"},
		{"PGP private key block", "SIGNING_KEY", pgpKey, []string{"lQOYBGN5Y2sBCADpgpBodyOfAKey"}, "holds a private key"},
		{"bearer token", "AUTH_HEADER", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl", []string{"eyJhbGciOiJIUzI1NiJ9"}, "holds a bearer token"},
		{"bare bearer token", "UPSTREAM_AUTH", "Bearer 3f9a8c7d6e5b4a3f2e1d", []string{"3f9a8c7d6e5b4a3f2e1d"}, "holds a bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const file = "workflows/shop.json"
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/repo/"+file), testutil.Set("/nodes/4/data/env/"+tc.env, tc.value))
			_, err := Decode(file, testutil.Marshal(t, doc))
			want := file + ": /nodes/4/data/env/" + tc.env + ": "
			problems := AsErrors(err)
			if len(problems) != 1 || !strings.HasPrefix(problems[0].Error(), want) || !strings.Contains(problems[0].Error(), tc.want) {
				t.Fatalf("got %v, want one error starting %q with %q", err, want, tc.want)
			}
			for _, s := range append(tc.reveal, tc.value) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows %q: %v", s, err)
				}
			}
		})
	}
}

// TestHoldsSecretLetsReferencesThrough: values that name or point at a
// secret, and URLs without one, are no secrets.
func TestHoldsSecretLetsReferencesThrough(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"postgres://app@db/app",
		"postgres://app:${DB_PASSWORD}@db/app",
		"postgres://app:$(DB_PASSWORD)@db/app",
		"https://example.com:8443/@team",
		"https://example.com/login?next=/a@b",
		"host=db user=app password=$(PGPASSWORD) dbname=app",
		"jdbc:postgresql://db/app?user=app",
		"Bearer $(API_TOKEN)",
		"the bearer of news",
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
		"-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQEN\n-----END PGP PUBLIC KEY BLOCK-----",
		"db:3306",
	} {
		if what := HoldsSecret(v); what != "" {
			t.Errorf("HoldsSecret(%q) = %q, want none", v, what)
		}
	}
	for _, name := range []string{"DB_PASSWORD_FILE", "BYPASS_CACHE", "PASSENGER_COUNT", "COMPASS_URL", "passwordSecretRef", "KEY"} {
		if LooksLikeCredential(name) {
			t.Errorf("LooksLikeCredential(%q) = true", name)
		}
	}
}

// TestPluginValuesNameNoCredential checks plugin values as environment
// values are checked: a literal under a credential's name, or the value of
// a {name, value} pair so named, is refused without being shown; a
// reference to a Secret by name is not.
func TestPluginValuesNameNoCredential(t *testing.T) {
	t.Parallel()
	const file = "workflows/batch.json"
	for _, tc := range []struct {
		name    string
		patches []testutil.Patch
		want    string // "" for none
	}{
		{"password in an object", []testutil.Patch{testutil.Set("/nodes/6/data/issuerRef/password", "Plug5ecret")},
			`/nodes/6/data/issuerRef/password: "password" looks like a credential`},
		{"a name and value pair", []testutil.Patch{testutil.Set("/nodes/6/data/issuerRef/env", []any{map[string]any{"name": "ADMIN_PASSWORD", "value": "Plug5ecret"}})},
			`/nodes/6/data/issuerRef/env/0/value: "ADMIN_PASSWORD" looks like a credential`},
		{"a field named for a password", []testutil.Patch{
			testutil.Set("/nodes/6/data/_pluginFields/-", map[string]any{"id": "adminPassword", "label": "Password", "type": "text"}),
			testutil.Set("/nodes/6/data/adminPassword", "Plug5ecret")},
			`/nodes/6/data/adminPassword: "adminPassword" looks like a credential`},
		{"a reference by name", []testutil.Patch{testutil.Set("/nodes/6/data/issuerRef/passwordSecretRef", map[string]any{"name": "issuer-password", "key": "password"})}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := testutil.Apply(t, testutil.LoadJSON(t, "../fixtures/repo/"+file), tc.patches...)
			_, err := Decode(file, testutil.Marshal(t, doc))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			problems := AsErrors(err)
			if len(problems) != 1 || !strings.HasPrefix(problems[0].Error(), file+": "+tc.want) {
				t.Fatalf("got %v, want one error starting %q", err, file+": "+tc.want)
			}
			if strings.Contains(err.Error(), "Plug5ecret") {
				t.Errorf("the error shows the value: %v", err)
			}
		})
	}
}
