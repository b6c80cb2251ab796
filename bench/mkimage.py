#!/usr/bin/env python3
"""Writes an OCI image layout of real files for the pull/unpack benchmarks.

mkimage.py OUT_DIR NAME LAYERS MB_PER_LAYER [ROOTS...]

Each layer is a gzip tar (gzip -6 -n, the usual registry compression) of regular files taken
in sorted order from ROOTS (default /usr/lib /usr/share) until the layer holds MB_PER_LAYER
megabytes of file content; consecutive layers take the next files. Deterministic for a given
machine. The index names the image NAME (io.containerd.image.name and ref.name)."""
import hashlib, json, os, subprocess, sys, tarfile, tempfile

def files(roots):
    for root in roots:
        for d, dirs, names in os.walk(root):
            dirs.sort()
            for n in sorted(names):
                p = os.path.join(d, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    yield p

def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest(), os.path.getsize(path)

def put(blobs, path):
    d, size = sha(path)
    os.replace(path, os.path.join(blobs, d))
    return 'sha256:' + d, size

def main():
    out, name, layers, mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    roots = sys.argv[5:] or ['/usr/lib', '/usr/share']
    blobs = os.path.join(out, 'blobs', 'sha256')
    os.makedirs(blobs, exist_ok=True)
    src = files(roots)
    descs, diff_ids = [], []
    for i in range(layers):
        tmp_tar = os.path.join(out, f'layer{i}.tar')
        budget, total = mb * 1000 * 1000, 0
        with tarfile.open(tmp_tar, 'w', format=tarfile.PAX_FORMAT) as t:
            for p in src:
                try:
                    t.add(p, arcname=p.lstrip('/'), recursive=False)
                except OSError:
                    continue
                total += os.path.getsize(p)
                if total >= budget:
                    break
        diff_ids.append('sha256:' + sha(tmp_tar)[0])
        gz = tmp_tar + '.gz'
        with open(gz, 'wb') as f:
            subprocess.run(['gzip', '-6', '-n', '-c', tmp_tar], stdout=f, check=True)
        os.remove(tmp_tar)
        d, size = put(blobs, gz)
        descs.append({'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': d, 'size': size})
    config = json.dumps({
        'architecture': 'amd64', 'os': 'linux', 'created': '2026-01-01T00:00:00Z',
        'config': {'Cmd': ['/bin/sh']},
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
    }).encode()
    def put_bytes(b):
        d = hashlib.sha256(b).hexdigest()
        with open(os.path.join(blobs, d), 'wb') as f:
            f.write(b)
        return 'sha256:' + d, len(b)
    cd, cs = put_bytes(config)
    manifest = json.dumps({
        'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': cd, 'size': cs},
        'layers': descs,
    }).encode()
    md, ms = put_bytes(manifest)
    with open(os.path.join(out, 'oci-layout'), 'w') as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(out, 'index.json'), 'w') as f:
        json.dump({'schemaVersion': 2, 'manifests': [{
            'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': md, 'size': ms,
            'annotations': {'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'bench'},
        }]}, f)
    print(sum(d['size'] for d in descs))

main()
