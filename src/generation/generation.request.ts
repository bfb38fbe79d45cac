/** A generation request once validated: what the worker formats turn into RunPod input. */

export interface ImageRequest {
  kind: "image";
  model: string;
  prompt: string;
  width: number;
  height: number;
  negativePrompt?: string;
  steps?: number;
  seed?: number;
}

export interface AudioRequest {
  kind: "audio";
  model: string;
  text: string;
  voice: string;
  speed: number;
}

export interface VideoRequest {
  kind: "video";
  model: string;
  prompt: string;
  negativePrompt?: string;
  duration: number;
  size?: string;
  seed?: number;
}

export interface TextRequest {
  kind: "text";
  model: string;
  prompt: string;
  maxTokens?: number;
  temperature?: number;
}

export type GenerationRequest = ImageRequest | AudioRequest | VideoRequest | TextRequest;
