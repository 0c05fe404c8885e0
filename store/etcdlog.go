package store

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLog routes the embedded etcd's zap logging into slog, warnings and
// above only, and turns its panics and fatal errors during the start into
// a failure that Open reports, instead of a crash with a stack trace or
// an exit. Once the server runs, they crash the process as etcd means
// them to, after the slog line that says why.
type etcdLog struct {
	log *slog.Logger
	// quiet drops everything while the server shuts down: etcd reports
	// its own shutdown as warnings and errors.
	quiet atomic.Bool
	// fatal receives the first panic or fatal message of the start.
	fatal chan string
	// started is set once the server is ready.
	started atomic.Bool
}

func newEtcdLog(log *slog.Logger) *etcdLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &etcdLog{log: log, fatal: make(chan string, 1)}
}

// zap returns the zap logger to give etcd.
func (l *etcdLog) zap() *zap.Logger {
	return zap.New(&slogCore{l: l}, zap.WithPanicHook(l), zap.WithFatalHook(l))
}

// OnWrite is called after etcd logs at panic or fatal level. During the
// start it reports the message to Open and ends the goroutine, which etcd
// meant to crash: the server is unusable, and Open gives up on it.
func (l *etcdLog) OnWrite(ce *zapcore.CheckedEntry, fields []zapcore.Field) {
	msg := ce.Message
	if err, ok := fieldMap(fields)["error"]; ok {
		msg = fmt.Sprintf("%s: %v", msg, err)
	}
	if l.started.Load() {
		panic("etcd: " + msg)
	}
	select {
	case l.fatal <- msg:
	default:
	}
	runtime.Goexit()
}

// slogCore is a zapcore.Core that writes to an etcdLog's slog logger.
type slogCore struct {
	l     *etcdLog
	attrs []slog.Attr
}

func (c *slogCore) Enabled(level zapcore.Level) bool { return level >= zapcore.WarnLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l, attrs: append(slices.Clip(c.attrs), attrsOf(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if c.l.quiet.Load() {
		return nil
	}
	level := slog.LevelWarn
	if e.Level >= zapcore.ErrorLevel {
		level = slog.LevelError
	}
	c.l.log.LogAttrs(context.Background(), level, "etcd: "+e.Message, append(slices.Clip(c.attrs), attrsOf(fields)...)...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// attrsOf turns zap fields into slog attributes, in name order.
func attrsOf(fields []zapcore.Field) []slog.Attr {
	m := fieldMap(fields)
	attrs := make([]slog.Attr, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		attrs = append(attrs, slog.Any(k, m[k]))
	}
	return attrs
}

func fieldMap(fields []zapcore.Field) map[string]any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return enc.Fields
}
