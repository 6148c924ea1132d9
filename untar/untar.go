// Package untar expands a gzip-compressed tar stream into a directory
// without ever writing outside it: absolute names, `..` elements, links
// that resolve outside, devices and fifos are refused, and the number of
// entries and bytes is bounded. It depends on the standard library only,
// so that its fuzz target runs fast.
package untar

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Limits bound what one repository tarball may expand to.
type Limits struct {
	// MaxFiles caps the number of tar entries (files, directories, links).
	MaxFiles int
	// MaxBytes caps the total size of extracted file contents.
	MaxBytes int64
}

// ErrUnsafeArchive marks a tarball rejected for its content (hostile or
// over a limit).
var ErrUnsafeArchive = errors.New("unsafe repository archive")

func unsafeArchive(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafeArchive, fmt.Sprintf(format, args...))
}

// Extract expands the gzip-compressed tar r into dir, which must exist.
// It rejects absolute names, `..` elements, links that resolve outside dir,
// device files, fifos and anything over lim. On error dir may hold a
// partial tree: the caller removes it.
func Extract(r io.Reader, dir string, lim Limits) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return unsafeArchive("not a gzip stream: %v", err)
	}
	defer gz.Close()
	return extractTar(gz, dir, lim)
}

// extractTar is Extract after decompression: every rule applies to the tar
// stream (the fuzz target feeds it directly).
func extractTar(r io.Reader, dir string, lim Limits) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()

	tr := tar.NewReader(r)
	var entries int
	var total int64
	var symlinks []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return unsafeArchive("reading tar: %v", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		entries++
		if lim.MaxFiles > 0 && entries > lim.MaxFiles {
			return unsafeArchive("more than %d entries (raise --max-files if the repository is that large)", lim.MaxFiles)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return unsafeArchive("directory %q: %v", hdr.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA appears in old archives
			if lim.MaxBytes > 0 && hdr.Size > lim.MaxBytes-total {
				return unsafeArchive("contents exceed %d bytes at %q (raise --max-extracted-bytes if the repository is that large)", lim.MaxBytes, hdr.Name)
			}
			n, err := writeEntry(root, name, tr, hdr.Size)
			total += n
			if err != nil {
				return unsafeArchive("file %q: %v", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if err := checkLinkTarget(name, hdr.Linkname); err != nil {
				return err
			}
			if err := prepareParent(root, name); err != nil {
				return unsafeArchive("symlink %q: %v", hdr.Name, err)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return unsafeArchive("symlink %q: %v", hdr.Name, err)
			}
			symlinks = append(symlinks, name)
		case tar.TypeLink:
			target, err := entryName(hdr.Linkname)
			if err != nil || target == "." {
				return unsafeArchive("hard link %q points outside the repository (%q)", hdr.Name, hdr.Linkname)
			}
			fi, err := root.Lstat(target)
			if err != nil || !fi.Mode().IsRegular() {
				return unsafeArchive("hard link %q must point at a regular file earlier in the archive, not %q", hdr.Name, hdr.Linkname)
			}
			if err := prepareParent(root, name); err != nil {
				return unsafeArchive("hard link %q: %v", hdr.Name, err)
			}
			if err := root.Link(target, name); err != nil {
				return unsafeArchive("hard link %q: %v", hdr.Name, err)
			}
		default:
			return unsafeArchive("entry %q has unsupported type %q (devices, fifos and sockets are refused)", hdr.Name, string(hdr.Typeflag))
		}
	}
	return verifySymlinks(dir, symlinks)
}

// entryName validates a tar name and returns it cleaned and relative.
func entryName(raw string) (string, error) {
	if raw == "" || strings.ContainsRune(raw, 0) {
		return "", unsafeArchive("empty or NUL-containing entry name %q", raw)
	}
	slashed := filepath.ToSlash(raw)
	if strings.HasPrefix(slashed, "/") || filepath.IsAbs(raw) || filepath.VolumeName(raw) != "" {
		return "", unsafeArchive("absolute path %q", raw)
	}
	for _, elem := range strings.Split(slashed, "/") {
		if elem == ".." {
			return "", unsafeArchive("path %q contains '..'", raw)
		}
	}
	return filepath.Clean(filepath.FromSlash(slashed)), nil
}

// checkLinkTarget rejects symlink targets that are absolute or climb out of
// the tree lexically; verifySymlinks checks the resolved result.
func checkLinkTarget(name, target string) error {
	if target == "" || filepath.IsAbs(target) || strings.HasPrefix(filepath.ToSlash(target), "/") {
		return unsafeArchive("symlink %q points outside the repository (%q)", name, target)
	}
	joined := filepath.Join(filepath.Dir(name), filepath.FromSlash(target))
	if !filepath.IsLocal(joined) && joined != "." {
		return unsafeArchive("symlink %q points outside the repository (%q)", name, target)
	}
	return nil
}

// verifySymlinks resolves every extracted symlink through the final tree;
// chains of in-tree links can still climb out (a -> "." then b -> "a/..").
// Links whose target does not exist (yet) are resolved too: a dangling
// link is refused when its target would lie outside the repository once
// created.
func verifySymlinks(dir string, links []string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for _, l := range links {
		out, err := escapes(realDir, l)
		if err != nil {
			return unsafeArchive("symlink %q: %v", l, err)
		}
		if out {
			return unsafeArchive("symlink %q resolves outside the repository", l)
		}
	}
	return nil
}

// maxLinkHops bounds the symlinks followed while resolving one path, as
// the kernel's own limit does.
const maxLinkHops = 40

// escapes reports whether rel, resolved inside root with every symlink on
// the way followed, leads outside root. Components that do not exist are
// taken lexically, so the answer holds for what the path would mean once
// they are created.
func escapes(root, rel string) (bool, error) {
	pending := strings.Split(filepath.ToSlash(rel), "/")
	cur := "" // resolved so far, relative to root; "" is root itself
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return true, nil
			}
			if cur = filepath.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			cur = next
			continue
		case err != nil:
			return false, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return false, errors.New("too many levels of symbolic links")
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return false, err
		}
		if filepath.IsAbs(target) || strings.HasPrefix(filepath.ToSlash(target), "/") {
			return true, nil
		}
		pending = append(strings.Split(filepath.ToSlash(target), "/"), pending...)
	}
	return false, nil
}

func prepareParent(root *os.Root, name string) error {
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if _, err := root.Lstat(name); err == nil {
		return root.Remove(name)
	}
	return nil
}

func writeEntry(root *os.Root, name string, r io.Reader, size int64) (int64, error) {
	if err := prepareParent(root, name); err != nil {
		return 0, err
	}
	f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
