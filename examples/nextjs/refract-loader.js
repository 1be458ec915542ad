// A Next.js custom image loader for Refract.
//
// next.config.js:
//   module.exports = {
//     images: { loader: 'custom', loaderFile: './refract-loader.js' },
//   };
// and set NEXT_PUBLIC_REFRACT_URL=https://img.example.com (where Refract, or the CDN in front of
// it, answers). `<Image src="/photos/cat.jpg" width={800} height={600} sizes="100vw" />` then
// renders a srcset whose every candidate is a Refract URL at that width, in AVIF/WebP/JPEG by the
// browser's Accept header.
//
// Next.js calls the loader once per width in its deviceSizes/imageSizes; `quality` is the
// <Image quality> prop when given (Refract picks a per-format default otherwise).

export default function refractLoader({ src, width, quality }) {
  const base = process.env.NEXT_PUBLIC_REFRACT_URL || 'http://127.0.0.1:8080';
  const url = new URL(src, base);
  url.searchParams.set('w', String(width));
  url.searchParams.set('fm', 'auto');
  if (quality) {
    url.searchParams.set('q', String(quality));
  }
  return url.href;
}
