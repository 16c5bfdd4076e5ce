#version 330 core
// The richer looks (docs/LOOKS.md; gpu_render/render/scene_reference.py draws the same on the
// CPU): albedo from the corner colours times an optional texture (sampled trilinearly from
// sRGB mipmaps: decoded to linear light for filtering, encoded back), or the look's albedo and
// marks; lit by the directional light (ambient 0.35 + 0.65 Lambert) or by this pose's point
// lights (ambient + sum of E_k falloff_k Lambert), plus an optional white Blinn-Phong term; clamped,
// then luma when grey.

noperspective in float v_inv_z;
noperspective in vec3 v_position_over_z;
noperspective in vec3 v_normal_obj_over_z;
noperspective in vec3 v_normal_cam_over_z;
noperspective in vec3 v_camera_over_z;
noperspective in vec2 v_uv_over_z;
noperspective in vec3 v_colour_over_z;
flat in int v_instance;

uniform vec3 u_albedo;        // [0, 1] RGB, where the object has no surface of its own
uniform int u_surface;        // 1: the corner colours are the albedo
uniform int u_textured;       // 1: times the texture on unit 0
uniform sampler2D u_texture;  // sRGB texture, mipmapped
uniform vec3 u_light;         // unit, towards the directional light, camera frame
uniform int u_points;         // 1: this pose's point lights instead of the directional light
uniform sampler2D u_lights;   // row = place in batch; texel 0: (count, ambient), 1..K: (x, y, z, E)
uniform float u_falloff;     // D of the fall-off D / (D + r^2); 0: none
uniform float u_specular;     // Blinn-Phong strength (0: none)
uniform float u_shininess;    // Blinn-Phong exponent
uniform int u_grayscale;      // 1: write BT.601 luma to all channels

const float AMBIENT = 0.35;
const float DIFFUSE = 0.65;
const vec3 LUMA = vec3(0.299, 0.587, 0.114);

out vec4 f_color;

#include "marks.glsl"

vec3 encode_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(12.92 * c, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), c));
}

float blinn(vec3 n, vec3 to_light, vec3 view) {
    if (dot(n, to_light) <= 0.0) return 0.0;
    return pow(max(0.0, dot(n, normalize(to_light + view))), u_shininess);
}

void main() {
    float z = 1.0 / v_inv_z;
    vec3 position = v_position_over_z * z;
    vec3 camera = v_camera_over_z * z;
    vec3 n_obj = normalize(v_normal_obj_over_z);
    vec3 n = normalize(v_normal_cam_over_z);
    vec3 view = normalize(-camera);

    vec3 albedo = u_surface == 1 ? v_colour_over_z * z : albedo_at(position, n_obj, u_albedo);
    if (u_textured == 1) {
        albedo *= encode_srgb(texture(u_texture, v_uv_over_z * z).rgb);
    }

    vec3 colour;
    if (u_points == 1) {
        vec4 head = texelFetch(u_lights, ivec2(0, v_instance), 0);
        float diffuse = head.y;
        float spec = 0.0;
        int count = int(head.x + 0.5);
        for (int k = 1; k <= count; ++k) {
            vec4 light = texelFetch(u_lights, ivec2(k, v_instance), 0);
            vec3 towards = light.xyz - camera;
            float r2 = dot(towards, towards);
            float energy = u_falloff > 0.0 ? light.w * u_falloff / (u_falloff + r2) : light.w;
            vec3 to_light = towards * inversesqrt(r2);
            diffuse += energy * max(0.0, dot(n, to_light));
            spec += energy * blinn(n, to_light, view);
        }
        colour = albedo * max(diffuse, 0.0) + u_specular * spec;
    } else {
        colour = albedo * (AMBIENT + DIFFUSE * max(0.0, dot(n, u_light))) + u_specular * DIFFUSE * blinn(n, u_light, view);
    }
    colour = clamp(colour, 0.0, 1.0);
    if (u_grayscale == 1) {
        colour = vec3(dot(colour, LUMA));
    }
    f_color = vec4(colour, 1.0);
}
