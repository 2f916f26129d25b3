// The pretrained networks a config can start from, for the form's Model choice and the Guide's time estimates:
// where each is, how much it downloads, and how much a training step costs against MobileNet v1 α=0.25's at the
// same input size (multiply-adds at 224 px, Howard et al. 2017 and Sandler et al. 2018: 41 M for α=0.25). Pure data.

export interface BackboneInfo {
  label: string;
  /** model.json of a tfjs LayersModel, relative to the site or absolute. */
  url: string;
  /** Its weight files, MB. */
  megabytes: number;
  /** Time per training step relative to MobileNet v1 α=0.25 at the same input size. */
  cost: number;
  /** Where it comes from and what runs it. */
  note: string;
  /**
   * For a backbone the app serves itself at `url` (under assets/models/, put there by `npm run assets`): Google's
   * canonical model.json it copies. Only the first is precached with the app; the others download on first use.
   */
  canonicalUrl?: string;
}

const google = (alpha: string) => `https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_${alpha}_224/model.json`;
const served = (name: string) => `assets/models/${name}/model.json`;
const FROM_GOOGLE = "downloaded from Google's storage on first use, then kept by the offline app";
const SERVED = 'served by this site (Google\'s weights), downloaded on first use, then kept by the offline app';

export const BACKBONES: readonly BackboneInfo[] = [
  { label: 'MobileNet v1 α=0.25', url: served('mobilenet_v1_0.25_224'), canonicalUrl: google('0.25'), megabytes: 1.9, cost: 1, note: 'ships with the app and works offline' },
  { label: 'MobileNet v1 α=0.5', url: google('0.50'), megabytes: 5.3, cost: 149 / 41, note: FROM_GOOGLE },
  { label: 'MobileNet v1 α=0.75', url: served('mobilenet_v1_0.75_224'), canonicalUrl: google('0.75'), megabytes: 10.4, cost: 325 / 41, note: SERVED },
  { label: 'MobileNet v1 α=1.0', url: google('1.0'), megabytes: 16.9, cost: 569 / 41, note: FROM_GOOGLE },
  {
    label: 'MobileNetV2 α=0.35', url: served('mobilenet_v2_0.35_224'),
    canonicalUrl: 'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json',
    megabytes: 1.6, cost: 59 / 41, note: `Teachable Machine's backbone, ${SERVED}`,
  },
];

/** Backbones the app serves itself: their folder under assets/models/ and Google's model.json they copy. */
export const SERVED_BACKBONES = BACKBONES.flatMap((b) => (b.canonicalUrl === undefined ? [] : [{ dir: b.url.split('/').at(-2)!, canonicalUrl: b.canonicalUrl }]));

/** The known backbone at `url`, or undefined for a custom one. */
export function backboneAt(url: string): BackboneInfo | undefined {
  return BACKBONES.find((b) => b.url === url);
}
