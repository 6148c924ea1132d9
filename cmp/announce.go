package cmp

import (
	"context"
	"fmt"
	"sort"

	"github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	repoapiclient "github.com/argoproj/argo-cd/v3/reposerver/apiclient"

	"github.com/argocd-image-resolver/argocd-image-resolver/resolve"
)

// GetParametersAnnouncement implements ConfigManagementPluginService: the
// static parameters of plugin.yaml, then `image.<alias>` for every
// configured image with the tag it resolves to now.
func (s *Server) GetParametersAnnouncement(stream apiclient.ConfigManagementPluginService_GetParametersAnnouncementServer) error {
	var announced []*repoapiclient.ParameterAnnouncement
	app, err := s.withRepo(stream, func(ctx context.Context, repo *received, cfg *Config) error {
		announced = s.announce(ctx, cfg, repo)
		return nil
	})
	if err != nil {
		return toStatus(app, err)
	}
	return stream.SendAndClose(&apiclient.ParametersAnnouncementResponse{ParameterAnnouncements: announced})
}

func (s *Server) announce(ctx context.Context, cfg *Config, repo *received) []*repoapiclient.ParameterAnnouncement {
	out := make([]*repoapiclient.ParameterAnnouncement, 0, len(s.plugin.Spec.Parameters.Static))
	for _, p := range s.plugin.Spec.Parameters.Static {
		c := *p
		out = append(out, &c)
	}
	if len(cfg.Images) == 0 {
		return out
	}
	res, err := s.pipeline.Announce(ctx, cfg, repo.repo, repo.app)
	if err != nil {
		s.logger.Warn("announcing parameters: resolution failed", "app", cfg.App.String(), "error", err)
		return append(out, &repoapiclient.ParameterAnnouncement{
			Name:           AnnouncedImagePrefix + "error",
			Title:          "Image resolution failed",
			Tooltip:        err.Error(),
			CollectionType: "string",
			String_:        err.Error(),
		})
	}
	images := make([]*repoapiclient.ParameterAnnouncement, 0, len(res.Results))
	for i, r := range res.Results {
		images = append(images, announcement(res.Specs[i], r))
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
	return append(out, images...)
}

func announcement(spec resolve.Spec, r resolve.Result) *repoapiclient.ParameterAnnouncement {
	how := fmt.Sprintf("%s %s", r.Strategy, r.Constraint)
	if r.Pinned {
		how = "pinned"
	}
	tooltip := fmt.Sprintf("Resolved by image-resolver for %s (%s); informational. To pin a version, set image-options %s.override-tag.", spec.Image, how, spec.Alias)
	if r.Digest != "" {
		tooltip += " Digest " + r.Digest + "."
	}
	return &repoapiclient.ParameterAnnouncement{
		Name:           AnnouncedImagePrefix + spec.Alias,
		Title:          spec.Alias + " image (resolved)",
		Tooltip:        tooltip,
		ItemType:       "string",
		CollectionType: "string",
		String_:        r.Tag,
	}
}
