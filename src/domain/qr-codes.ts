import type { QRCodeToDataURLOptions } from 'qrcode';

/**
 * A QR code of `text` as a PNG data URL. qrcode (with its PNG encoder) is loaded with the first one:
 * only authenticator enrolment and the device flow draw QR codes, so a start-up does not pay for it.
 */
export async function qrCodeDataUrl(text: string, options?: QRCodeToDataURLOptions): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toDataURL(text, options);
}
