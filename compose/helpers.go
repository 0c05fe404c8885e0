package compose

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/slipway-gitops/slipway/workflow"
)

// validLabel reports whether a compose label can be a Kubernetes label
// that Slipway does not own.
func validLabel(k, v string) bool {
	switch k {
	case workflow.LabelName, workflow.LabelPartOf, workflow.LabelManagedBy:
		return false
	}
	return len(content.IsLabelKey(k)) == 0 && len(content.IsLabelValue(v)) == 0
}

func validEnvName(k string) bool { return len(validation.IsEnvVarName(k)) == 0 }

// normalizeKey makes s a valid ConfigMap or Secret key.
func normalizeKey(s string) string {
	if len(validation.IsConfigMapKey(s)) == 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "value"
	}
	return b.String()
}

// parseEnvFile reads an env_file as compose does, interpolating from the
// project environment.
func parseEnvFile(path string, data []byte, env types.Mapping) (map[string]string, error) {
	vars, err := dotenv.ParseWithLookup(bytes.NewReader(data), env.Resolve)
	if err != nil {
		return nil, fmt.Errorf("compose import: env_file %s: %w", path, err)
	}
	return vars, nil
}

// validSchedule reports whether a CronJob accepts s as its schedule: five
// fields or a descriptor like @daily, without a time zone.
func validSchedule(s string) bool {
	if strings.Contains(s, "TZ=") {
		return false
	}
	_, err := cron.ParseStandard(s)
	return err == nil
}
