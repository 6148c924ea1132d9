package webhookpayload

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Payload samples written from each provider's documented format (field
// names and nesting as the providers send them; values are made up).
const (
	dockerHubSample = `{
  "callback_url": "https://registry.hub.docker.com/u/acme/web/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
  "push_data": {"pushed_at": 1717171717, "pusher": "ci-bot", "tag": "1.7.0"},
  "repository": {
    "comment_count": 0, "date_created": 1617171717, "description": "",
    "is_official": false, "is_private": true, "is_trusted": false,
    "name": "web", "namespace": "acme", "owner": "acme",
    "repo_name": "acme/web", "repo_url": "https://registry.hub.docker.com/u/acme/web/",
    "star_count": 0, "status": "Active"
  }
}`
	dockerHubOfficialSample = `{"push_data":{"tag":"1.27"},"repository":{"name":"nginx","namespace":"library","repo_name":"library/nginx"}}`

	ghcrSample = `{
  "action": "published",
  "package": {
    "id": 1234567, "name": "web", "namespace": "Acme", "ecosystem": "CONTAINER",
    "package_type": "CONTAINER", "html_url": "https://github.com/orgs/Acme/packages/container/package/web",
    "owner": {"login": "Acme", "type": "Organization"},
    "package_version": {
      "id": 7654321,
      "version": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
      "name": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
      "container_metadata": {
        "tag": {"name": "1.7.0", "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"},
        "labels": {}, "manifest": {}
      },
      "package_url": "ghcr.io/acme/web:1.7.0"
    },
    "registry": {"about_url": "https://docs.github.com/packages", "name": "GitHub CONTAINER registry", "type": "CONTAINER", "url": "https://ghcr.io/acme", "vendor": "GitHub Inc"}
  },
  "repository": {"full_name": "Acme/web"},
  "sender": {"login": "ci-bot"}
}`
	ghcrNoURLSample = `{"action":"published","package":{"name":"tools%2Fcli","namespace":"acme","package_type":"container",
  "owner":{"login":"acme"},"package_version":{"version":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
  "container_metadata":{"tag":{"name":"","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}}}}}`
	ghcrNpmSample = `{"action":"published","package":{"name":"lib","namespace":"acme","package_type":"npm","owner":{"login":"acme"}}}`

	harborSample = `{
  "type": "PUSH_ARTIFACT",
  "occur_at": 1717171717,
  "operator": "robot$ci",
  "event_data": {
    "resources": [{
      "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
      "tag": "2.0.1",
      "resource_url": "harbor.example.com/platform/api:2.0.1"
    }],
    "repository": {"date_created": 1617171717, "name": "api", "namespace": "platform", "repo_full_name": "platform/api", "repo_type": "private"}
  }
}`
	harborDeleteSample = `{"type":"DELETE_ARTIFACT","event_data":{"resources":[{"tag":"2.0.1","resource_url":"harbor.example.com/platform/api:2.0.1"}]}}`

	quaySample = `{
  "repository": "acme/worker",
  "namespace": "acme",
  "name": "worker",
  "docker_url": "quay.io/acme/worker",
  "homepage": "https://quay.io/repository/acme/worker",
  "updated_tags": ["3.1.0", "latest"]
}`

	distributionSample = `{
  "events": [
    {
      "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
      "timestamp": "2024-06-01T10:00:00.000000000Z",
      "action": "push",
      "target": {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "size": 2048,
        "digest": "sha256:4444444444444444444444444444444444444444444444444444444444444444",
        "length": 2048,
        "repository": "team/app",
        "url": "https://registry.example.com:5000/v2/team/app/blobs/sha256:4444444444444444444444444444444444444444444444444444444444444444"
      },
      "request": {"id": "a", "addr": "10.0.0.9:4000", "host": "registry.example.com:5000", "method": "PUT", "useragent": "containerd/2.0"},
      "actor": {"name": "ci"},
      "source": {"addr": "registry-0:5000", "instanceID": "b"}
    },
    {
      "id": "6b2f6b6a-0e9f-4b8a-9f1c-0a0e4f2b4a11",
      "timestamp": "2024-06-01T10:00:01.000000000Z",
      "action": "push",
      "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "size": 712,
        "digest": "sha256:5555555555555555555555555555555555555555555555555555555555555555",
        "length": 712,
        "repository": "team/app",
        "url": "https://registry.example.com:5000/v2/team/app/manifests/sha256:5555555555555555555555555555555555555555555555555555555555555555",
        "tag": "0.9.0"
      },
      "request": {"id": "c", "addr": "10.0.0.9:4000", "host": "registry.example.com:5000", "method": "PUT", "useragent": "containerd/2.0"},
      "actor": {"name": "ci"},
      "source": {"addr": "registry-0:5000", "instanceID": "b"}
    }
  ]
}`
	distributionPullSample = `{"events":[{"action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/app","tag":"0.9.0"},"request":{"host":"registry.example.com:5000"}}]}`

	genericSample = `{"repository":"ghcr.io/acme/web","tag":"1.7.1"}`
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		body     string
		want     []PushEvent
		wantErr  error
	}{
		{"dockerhub", DockerHub, dockerHubSample,
			[]PushEvent{{Repository: "docker.io/acme/web", Tag: "1.7.0"}}, nil},
		{"dockerhub official image", DockerHub, dockerHubOfficialSample,
			[]PushEvent{{Repository: "docker.io/library/nginx", Tag: "1.27"}}, nil},
		{"dockerhub without repository", DockerHub, `{"push_data":{"tag":"1"}}`, nil, ErrMalformed},
		{"ghcr package event", GHCR, ghcrSample,
			[]PushEvent{{Repository: "ghcr.io/acme/web", Tag: "1.7.0", Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"}}, nil},
		{"ghcr nested name without package_url", GHCR, ghcrNoURLSample,
			[]PushEvent{{Repository: "ghcr.io/acme/tools/cli", Digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}}, nil},
		{"ghcr npm package ignored", GHCR, ghcrNpmSample, nil, ErrIgnored},
		{"ghcr non package event", GHCR, `{"zen":"Keep it logically awesome.","hook_id":1}`, nil, ErrMalformed},
		{"harbor push", Harbor, harborSample,
			[]PushEvent{{Repository: "harbor.example.com/platform/api", Tag: "2.0.1", Digest: "sha256:3333333333333333333333333333333333333333333333333333333333333333"}}, nil},
		{"harbor delete ignored", Harbor, harborDeleteSample, nil, ErrIgnored},
		{"harbor without resources", Harbor, `{"type":"PUSH_ARTIFACT","event_data":{}}`, nil, ErrMalformed},
		{"quay push", Quay, quaySample, []PushEvent{
			{Repository: "quay.io/acme/worker", Tag: "3.1.0"},
			{Repository: "quay.io/acme/worker", Tag: "latest"},
		}, nil},
		{"distribution manifest push, blob skipped", Distribution, distributionSample,
			[]PushEvent{{Repository: "registry.example.com:5000/team/app", Tag: "0.9.0", Digest: "sha256:5555555555555555555555555555555555555555555555555555555555555555"}}, nil},
		{"distribution pull ignored", Distribution, distributionPullSample, nil, ErrIgnored},
		{"distribution without events", Distribution, `{}`, nil, ErrMalformed},
		{"generic", Generic, genericSample, []PushEvent{{Repository: "ghcr.io/acme/web", Tag: "1.7.1"}}, nil},
		{"generic short name, as written", Generic, `{"repository":"nginx"}`, []PushEvent{{Repository: "nginx"}}, nil},
		{"generic digest reference", Generic, `{"repository":"ghcr.io/acme/web:1.0@sha256:1111111111111111111111111111111111111111111111111111111111111111"}`, []PushEvent{{Repository: "ghcr.io/acme/web"}}, nil},
		{"generic reference with tag", Generic, `{"repository":"localhost:5000/a/b:1.0"}`, []PushEvent{{Repository: "localhost:5000/a/b"}}, nil},
		{"generic invalid repository", Generic, `{"repository":"UPPER/Case!"}`, nil, ErrMalformed},
		{"ghcr package_url naming no repository (fuzz)", GHCR, `{"action":"published","package":{"package_type":"CONTAINER","package_version":{"package_url":"."}}}`, nil, ErrMalformed},
		{"generic path element no spec could hold", Generic, `{"repository":"ghcr.io/acme/a..b"}`, nil, ErrMalformed},
		{"generic empty", Generic, `{}`, nil, ErrMalformed},
		{"not JSON", Generic, `repository=x`, nil, ErrMalformed},
		{"unknown type", "gitlab", genericSample, nil, ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.provider, []byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseUnknownTypeNamesTheChoices(t *testing.T) {
	_, err := Parse("gitlab", nil)
	for _, p := range Providers() {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not list %q", err, p)
		}
	}
}

func TestSignature(t *testing.T) {
	secret := []byte("s3cr3t")
	body := []byte(genericSample)
	good := Sign(secret, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		ok     bool
	}{
		{"good", good, body, true},
		{"missing", "", body, false},
		{"no prefix", strings.TrimPrefix(good, "sha256="), body, false},
		{"not hex", "sha256=zz", body, false},
		{"other secret", Sign([]byte("other"), body), body, false},
		{"tampered body", good, []byte(`{"repository":"ghcr.io/evil/web"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(secret, tt.body, tt.header)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(good, "sha256=")) {
				t.Fatalf("error leaks the expected signature: %v", err)
			}
		})
	}
}
