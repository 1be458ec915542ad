// Build srcsets for Refract with imgix's own JavaScript client, @imgix/js-core: Refract speaks
// imgix's URL API, so the client works unchanged — point its domain at your Refract host.
//
// Run:  npm install @imgix/js-core && REFRACT_DOMAIN=img.example.com node examples/imgix-js-core.mjs
// (the domain must be a host name: js-core accepts no port; put Refract behind your CDN's name).
import ImgixClient from '@imgix/js-core';

const client = new ImgixClient({
  domain: process.env.REFRACT_DOMAIN || 'img.example.com',
  useHTTPS: process.env.REFRACT_HTTP !== '1',
  // Adds ixlib=js-3.x; Refract ignores unknown parameters, so it never splits the cache.
  includeLibraryParam: true,
  // For an origin started with `--sign-key TOKEN --sign-scheme imgix`, js-core's own signature
  // (secureURLToken) verifies unchanged. Refract's default scheme is stronger (README): for it,
  // build signed srcsets with `refract srcset --sign-key` instead.
  ...(process.env.REFRACT_TOKEN ? { secureURLToken: process.env.REFRACT_TOKEN } : {}),
});

const key = process.env.REFRACT_KEY || 'photos/cat.jpg';

// Width-described srcset for a fluid image (`sizes` picks the candidate).
const fluid = client.buildSrcSet(key, { fm: 'auto' }, { widths: [320, 640, 960, 1280] });

// DPR-described srcset for a fixed-width image: 1x–5x, with js-core's variable quality
// (q=75/50/35/23/20) unless disableVariableQuality is set.
const fixed = client.buildSrcSet(key, { w: 200, fm: 'auto' });

// Art direction: a 16:9 crop (imgix's ar with fit=crop) with an adjustment, at fixed widths.
const cropped = client.buildSrcSet(
  key,
  { ar: '16:9', fit: 'crop', sat: 30, fm: 'auto' },
  { widths: [320, 640] },
);

console.log(JSON.stringify({ fluid, fixed, cropped }));
