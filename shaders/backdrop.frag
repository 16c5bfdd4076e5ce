#version 330 core
// Each pixel of the atlas takes the texel at the same place of the backgrounds texture (one
// tile per pose, laid out as the atlas is): an exact copy, every MSAA sample alike.

uniform sampler2D u_backdrop;  // RGB8, S wide, one S-high tile per pose from the bottom

out vec4 f_color;

void main() {
    ivec2 size = textureSize(u_backdrop, 0);
    ivec2 at = min(ivec2(gl_FragCoord.xy), size - 1);
    f_color = vec4(texelFetch(u_backdrop, at, 0).rgb, 1.0);
}
