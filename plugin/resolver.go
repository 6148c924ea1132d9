package plugin

import (
	"log/slog"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// resolverConfig is what a command sets of its resolver.
type resolverConfig struct {
	logger *slog.Logger
	// registriesConf is a registries.conf file to load, or conf one
	// already parsed (the demo's); neither means none.
	registriesConf string
	conf           *resolve.RegistriesConfig
	insecure       bool
	// options are the command's own settings (cache, store, metrics).
	options []resolve.Option
}

// newResolver is where every command (serve, generate, resolve, demo)
// builds its resolver. It returns the registries.conf in use too, whose
// rules also govern chart dependencies.
func newResolver(c resolverConfig) (*resolve.Resolver, *resolve.RegistriesConfig, error) {
	conf := c.conf
	if conf == nil {
		conf = &resolve.RegistriesConfig{}
		if c.registriesConf != "" {
			var err error
			if conf, err = resolve.LoadRegistriesConfig(c.registriesConf); err != nil {
				return nil, nil, err
			}
		}
	}
	opts := []resolve.Option{resolve.WithRegistriesConfig(conf)}
	if c.logger != nil {
		opts = append(opts, resolve.WithLogger(c.logger))
	}
	if c.insecure {
		opts = append(opts, resolve.WithInsecure())
	}
	r, err := resolve.New(append(opts, c.options...)...)
	if err != nil {
		return nil, nil, err
	}
	return r, conf, nil
}
